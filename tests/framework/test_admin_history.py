"""What the worker writes to the event history and what the console computes from it: handler outcomes with
their tracebacks, provider errors by status, durations."""

from __future__ import annotations

from framework.admin.stats import adapter_stats, handler_stats, percentile
from framework.store.base import HistoryQuery
from framework.testing import BotHarness
from tests.framework.admin_helpers import harness, welcome_plugin


async def test_each_attempt_of_a_throttled_event_is_in_the_history_with_its_status_and_traceback() -> None:
    async with harness() as bot:
        bot.script("roosted", status=429, method="POST", path="*/chats", times=100)
        (*_, last) = await bot.emit("member.joined", {"name": "Ada"})
        assert last.action == "dead"
        assert bot.runtime is not None
        attempts = await bot.runtime.store.history(HistoryQuery())
        assert [e.outcome for e in attempts] == ["dead"] + ["retry"] * (len(attempts) - 1)
        (failure,) = attempts[0].handlers
        assert (failure["handler"], failure["outcome"], failure["provider"], failure["status"]) == (
            "welcome.welcome",
            "failed",
            "roostedhr",
            429,
        )
        assert "Traceback (most recent call last)" in failure["traceback"]
        (adapter,) = adapter_stats(attempts)
        assert (adapter.provider, adapter.errors, adapter.throttled) == (
            "roostedhr",
            len(attempts),
            len(attempts),
        )
        (handler,) = handler_stats(attempts)
        assert (handler.runs, handler.failures) == (len(attempts), len(attempts))

        answer = await bot.get("/admin/api/events?outcome=dead")
        (listed,) = await answer.json()
        assert listed["event"]["data"] == {"name": "Ada"} and listed["handlers"][0]["status"] == 429


async def test_history_size_0_keeps_no_history() -> None:
    bot = BotHarness.from_plugins(
        welcome_plugin(),
        adapters={"roosted": {"provider": "roostedhr", "worker_id": "3158"}},
        config={"store": {"history_size": 0}},
    )
    async with bot:
        (done,) = await bot.emit("member.joined", {"name": "Ada"})
        assert done.action == "done" and bot.runtime is not None
        assert await bot.runtime.store.history(HistoryQuery()) == []


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile([], 0.5)) == (50.0, 99.0, None)
