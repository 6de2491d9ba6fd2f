"""Steps: a handler that runs again (retry, replay, a call that ended in doubt) does not repeat its effects."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from framework import Context, Event, Plugin, jsoncodec
from framework.chats import Capability, Message
from framework.events import new_event
from framework.steps import JournaledChats, StepInDoubt, Steps
from framework.testing import BotHarness
from tests.framework.welcome_helpers import roosted_state, welcome_plugin

ROOSTED = {"roosted": {"provider": "roostedhr", "worker_id": "3158"}}


def chats_and_messages(bot: BotHarness) -> tuple[int, int]:
    state = roosted_state(bot)
    return len(state.chats), sum(len(chat.messages) for chat in state.chats.values())


def harness(*plugins: Plugin, steps: bool = True, **service: Any) -> BotHarness:
    return BotHarness.from_plugins(
        *plugins,
        adapters={"roosted": {**ROOSTED["roosted"], "timeout": 0.5, "retries": 1}},
        config={"service": {"steps": steps, **service}, "retry": {"attempts": 5}},
    )


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.005)


@pytest.mark.parametrize(("steps", "chats"), [(True, 1), (False, 3)], ids=["steps", "no-steps"])
async def test_a_retry_after_a_failed_post_does_not_create_the_chat_again(steps: bool, chats: int) -> None:
    async with harness(welcome_plugin(), steps=steps) as bot:
        bot.script("roosted", status=500, method="POST", path="*/messages", times=2)
        (outcome, *_) = await bot.emit("member.joined", {"name": "Ada"})
        assert [d.action for d in bot.dispositions] == ["retry", "retry", "done"]
        assert chats_and_messages(bot) == (chats, 1)
        del outcome


async def test_a_create_answered_after_the_client_gave_up_is_found_and_not_made_again() -> None:
    async with harness(welcome_plugin()) as bot:
        # the chat is made, then the answer is held past the adapter's 0.5 s timeout: the call ends in doubt
        bot.script("roosted", status=201, method="POST", path="*/chats", delay=1.0)
        await bot.emit("member.joined", {"name": "Ada"})
        assert [d.action for d in bot.dispositions] == ["retry", "done"]
        assert chats_and_messages(bot) == (1, 1)
        assert bot.runtime is not None and bot.runtime.steps is not None
        assert bot.runtime.steps.counters.reconciled == 1


async def test_a_create_answered_without_a_body_is_retried_and_found_not_dead_lettered() -> None:
    async with harness(welcome_plugin()) as bot:
        # the chat is made, then the answer is empty: the adapter's error is not retryable, but the step can be
        # read back, so the retry looks for the chat instead of the event being dead-lettered
        bot.script("roosted", status=201, method="POST", path="*/chats")
        await bot.emit("member.joined", {"name": "Ada"})
        assert [d.action for d in bot.dispositions] == ["retry", "done"]
        assert chats_and_messages(bot) == (1, 1)


async def test_a_replayed_dead_letter_continues_from_its_steps_and_a_fresh_replay_starts_over() -> None:
    async with harness(welcome_plugin()) as bot:
        bot.script("roosted", status=500, method="POST", path="*/messages", times=5)
        event = new_event("member.joined", {"name": "Ada"})
        await bot.append(event)
        await bot.settle()
        assert [d.action for d in bot.dispositions][-1] == "dead"
        assert chats_and_messages(bot) == (1, 0)
        assert bot.runtime is not None
        assert await bot.runtime.store.replay(event.id)
        await bot.settle()
        assert chats_and_messages(bot) == (1, 1)

        bot.script("roosted", status=500, method="POST", path="*/messages", times=5)
        again = new_event("member.joined", {"name": "Bo"})
        await bot.append(again)
        await bot.settle()
        # --fresh is for effects removed at the provider (else the adapter's read-back would find Bo's chat)
        [removed] = [chat.id for chat in roosted_state(bot).chats.values() if chat.name == "Welcome Bo"]
        del roosted_state(bot).chats[removed]
        assert await bot.runtime.store.replay(again.id, fresh=True)
        await bot.settle()
        assert chats_and_messages(bot) == (2, 2)  # Ada's chat, and Bo's again: --fresh acts again
        assert [chat.name for chat in roosted_state(bot).chats.values()] == ["Welcome Ada", "Welcome Bo"]


async def test_the_same_call_twice_in_one_handler_is_two_steps() -> None:
    plugin = Plugin("twice")

    @plugin.on("ping")
    async def twice(event: Event, ctx: Context) -> None:
        roosted = ctx.chats["roosted"]
        chat = await roosted.create_chat(name="Pings", members=["120915"])
        await roosted.post_message(chat.id, "ping")
        await roosted.post_message(chat.id, "ping")
        if event.attempt == 1:
            raise RuntimeError("fail after the effects, so the handler runs again")

    async with harness(plugin) as bot:
        await bot.emit("ping")
        assert [d.action for d in bot.dispositions] == ["retry", "done"]
        assert chats_and_messages(bot) == (1, 2)


async def test_a_custom_step_runs_once_and_its_result_is_replayed() -> None:
    plugin = Plugin("pager")
    calls: list[str] = []
    seen: list[Any] = []

    def page(who: str) -> dict[str, Any]:
        calls.append(who)
        return {"incident": len(calls), "who": who}

    @plugin.on("alert")
    async def alert(event: Event, ctx: Context) -> None:
        seen.append(await ctx.step("notify-pager", page, "oncall"))
        if event.attempt < 3:
            raise RuntimeError("later failure")

    async with harness(plugin) as bot:
        await bot.emit("alert")
        assert calls == ["oncall"]
        assert seen == [{"incident": 1, "who": "oncall"}] * 3


async def test_a_custom_step_in_doubt_asks_its_reconcile_function_first() -> None:
    plugin = Plugin("mailer")
    sent: list[str] = []

    async def send(to: str) -> str:
        sent.append(to)
        await asyncio.sleep(10)  # never answers: the handler's time limit cancels it after it acted
        return "unreachable"

    def already_sent(since: Any) -> str | None:
        return f"mail to {sent[0]}" if sent else None

    results: list[Any] = []

    @plugin.on("mail")
    async def mail(event: Event, ctx: Context) -> None:
        results.append(await ctx.step("send-mail", send, "ada@example.com", reconcile=already_sent))

    async with harness(plugin, handler_timeout=0.2) as bot:
        await bot.emit("mail")
        assert sent == ["ada@example.com"]
        assert results == ["mail to ada@example.com"]
        assert [d.action for d in bot.dispositions] == ["retry", "done"]


async def test_a_handler_whose_arguments_change_makes_a_new_step_and_is_warned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plugin = Plugin("clock")

    @plugin.on("tick")
    async def tick(event: Event, ctx: Context) -> None:
        await ctx.step("stamp", lambda text: text, f"attempt {event.attempt}")
        if event.attempt == 1:
            raise RuntimeError("again")

    async with harness(plugin) as bot:
        with caplog.at_level(logging.WARNING, logger="chatwright.steps"):
            await bot.emit("tick")
        assert "the handler's arguments changed between attempts" in caplog.text
        assert bot.runtime is not None and bot.runtime.steps is not None
        assert bot.runtime.steps.counters.mismatched == 1


async def test_a_step_in_doubt_without_read_back_follows_the_adapters_policy() -> None:
    plugin = Plugin("blind")
    pages: list[str] = []

    async def page() -> None:
        pages.append("page")
        await asyncio.sleep(10)

    @plugin.on("go")
    async def go(event: Event, ctx: Context) -> None:
        await ctx.step("page", page)

    async with harness(plugin, handler_timeout=0.2) as bot:
        await bot.emit("go")
        # no reconcile function: the default policy performs it again and counts a possible duplicate
        assert len(pages) == 5
        assert bot.runtime is not None and bot.runtime.steps is not None
        assert bot.runtime.steps.counters.possible_duplicates == 4


async def test_the_fail_policy_dead_letters_a_post_it_cannot_read_back() -> None:
    plugin = Plugin("alarm")

    @plugin.on("alarm")
    async def alarm(event: Event, ctx: Context) -> None:
        await ctx.chats["ga"].post_message("1", "Fire")

    bot = BotHarness.from_plugins(
        plugin,
        adapters={"ga": {"provider": "groupalarm", "timeout": 0.3, "retries": 1, "in_doubt": "fail"}},
    )
    async with bot:
        bot.script("ga", status=200, method="POST", path="*/message", delay=0.6)
        await bot.emit("alarm")
        (letter,) = await bot.dead_letters()
        assert StepInDoubt.__name__ in letter.error
        assert len(bot.requests("ga", method="POST")) == 1


def test_two_handlers_of_one_plugin_may_not_share_a_name() -> None:
    plugin = Plugin("twins")

    async def handle(event: Event, ctx: Context) -> None: ...

    async def other(event: Event, ctx: Context) -> None: ...

    plugin.add_handler("a", handle)
    plugin.add_handler("b", handle)  # the same function on two patterns: two identities
    assert [h.name for h in plugin.handlers] == ["twins.handle", "twins.handle[b]"]
    other.__name__ = "handle"
    with pytest.raises(ValueError, match=r"two handlers named 'twins\.handle'"):
        plugin.add_handler("c", other)
    plugin.add_handler("c", other, name="handle_c")
    assert plugin.handlers[-1].name == "twins.handle_c"


async def test_the_handler_that_matches_is_the_one_that_runs() -> None:
    plugin = Plugin("routes")
    ran: list[str] = []

    def make(label: str) -> Callable[[Event, Context], Awaitable[None]]:
        async def handle(event: Event, ctx: Context) -> None:
            ran.append(label)

        return handle

    plugin.add_handler("a", make("a"), name="on_a")
    plugin.add_handler("b", make("b"), name="on_b")
    async with harness(plugin) as bot:
        await bot.emit("b")
        await bot.emit("a")
    assert ran == ["b", "a"]


async def test_a_retry_after_an_ordinary_failure_does_not_read_back_steps_it_never_began() -> None:
    plugin = Plugin("late")

    @plugin.on("go")
    async def go(event: Event, ctx: Context) -> None:
        if event.attempt == 1:
            raise RuntimeError("fails before any step")
        await ctx.chats["roosted"].create_chat(name="Late", members=["120915"])

    async with harness(plugin) as bot:
        await bot.emit("go")
        assert [d.action for d in bot.dispositions] == ["retry", "done"]
        assert [r.method for r in bot.requests("roosted")] == [
            "POST"
        ]  # no read-back: the attempt ended normally


async def test_the_fail_policy_lets_a_retry_post_what_no_attempt_began() -> None:
    plugin = Plugin("alarm")

    @plugin.on("alarm")
    async def alarm(event: Event, ctx: Context) -> None:
        if event.attempt == 1:
            raise RuntimeError("fails before the post")
        await ctx.chats["ga"].post_message("1", "Fire")

    bot = BotHarness.from_plugins(plugin, adapters={"ga": {"provider": "groupalarm", "in_doubt": "fail"}})
    async with bot:
        await bot.emit("alarm")
        assert [d.action for d in bot.dispositions] == ["retry", "done"]
        assert len(bot.requests("ga", method="POST")) == 1


async def test_a_step_is_recorded_before_the_next_one_acts() -> None:
    plugin = Plugin("two")
    seen: list[list[str]] = []

    @plugin.on("go")
    async def go(event: Event, ctx: Context) -> None:
        async def look() -> None:
            assert bot.runtime is not None
            seen.append(sorted(await bot.runtime.store.load_steps(event.id)))

        await ctx.step("first", lambda: 1)
        await ctx.step("second", look)  # a crash here would find "first" recorded

    async with harness(plugin) as bot:
        await bot.emit("go")
    assert len(seen) == 1 and [key.split("|")[1] for key in seen[0]] == ["step:first"]


class _RecordingStore:
    """What a journal needs of a store to write its records: they are kept here, by key."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    async def record_step(self, event_id: str, key: str, record: bytes, ttl: float) -> None:
        self.records[key] = jsoncodec.loads(record)


class _SlowFirstPoster:
    """A provider whose first `post_message` answers only after the second one has."""

    name = "slowfirst"
    capabilities = frozenset({Capability.POST_MESSAGE})

    def __init__(self) -> None:
        self.second_answered = asyncio.Event()
        self.calls = 0

    async def post_message(self, chat_id: str | int, text: str) -> Message:
        self.calls += 1
        number = self.calls
        if number == 1:
            await self.second_answered.wait()
        else:
            self.second_answered.set()
        return Message(provider=self.name, chat_id=str(chat_id), id=f"m{number}", text=text)


async def test_equal_calls_made_at_once_are_keyed_in_the_order_they_began_whichever_answers_first() -> None:
    # A re-run looks its steps up in the order it makes the calls, so the first call made must own occurrence 1
    # even when the second one's answer, and so its record, comes first.
    store = _RecordingStore()
    steps = Steps(store=store)  # type: ignore[arg-type]  # the journal writes records and nothing else here
    journal = steps.journal(new_event("ping", {}), "twice.ping")
    providers: dict[str, Any] = {"slow": _SlowFirstPoster()}  # only its post_message is called
    poster = JournaledChats(providers, journal)["slow"]

    first, second = await asyncio.gather(poster.post_message("c1", "hi"), poster.post_message("c1", "hi"))
    journal.flush()
    await asyncio.gather(*journal.writes)

    by_occurrence = {key.rsplit("|", 1)[1]: record["result"]["id"] for key, record in store.records.items()}
    assert (first.id, second.id) == ("m1", "m2")
    assert by_occurrence == {"1": "m1", "2": "m2"}


class _ReadBackPoster:
    """Posts at once and can read a post back, so its steps carry both closures a journal makes for a call."""

    name = "roostedhr"
    capabilities = frozenset({Capability.POST_MESSAGE})
    readback = frozenset({Capability.POST_MESSAGE})

    async def post_message(self, chat_id: str | int, text: str) -> Message:
        return Message(provider=self.name, chat_id=str(chat_id), id="m1", text=text)

    async def find_message(self, chat_id: str, text: str, since: object) -> Message | None:
        return None


async def test_a_finished_handler_calls_journal_and_its_event_are_freed_without_the_collector() -> None:
    # Freed by their reference counts as the handler call ends, not kept until a collection finds them in a cycle:
    # one per handler call would hold every event's payload in memory and give the collector work per event.
    event = new_event("ping", {"text": "hi"})
    steps = Steps(store=_RecordingStore())  # type: ignore[arg-type]  # a first delivery's last step writes nothing
    journal = steps.journal(event, "poster.ping")
    providers: dict[str, Any] = {"roosted": _ReadBackPoster()}  # only its post_message is called
    gc.disable()
    try:
        await JournaledChats(providers, journal)["roosted"].post_message("c1", "hi")
        journal.finish()
        freed = weakref.ref(event)  # the journal holds it (a slotted journal takes no weak reference itself)
        del journal, event
        assert freed() is None
    finally:
        gc.enable()
