"""examples/cron_reminder: a `[[schedules]]` entry and a `@plugin.cron` both post reminders when due."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from framework.testing.pytest_plugin import BotFactory
from tests.examples.helpers import EXAMPLES, cli

CONFIG = EXAMPLES / "cron_reminder" / "bot.toml"
BERLIN = ZoneInfo("Europe/Berlin")


async def test_both_schedules_post_when_due(chatwright_bot: BotFactory) -> None:
    bot = await chatwright_bot.from_config(CONFIG)
    assert bot.runtime is not None and bot.runtime.schedules is not None
    fires = dict(bot.runtime.schedules.next_fires())

    standup = fires["standup"]
    timesheets = fires["reminders.timesheets"]
    assert standup is not None and timesheets is not None
    local = standup.astimezone(BERLIN)
    assert (local.hour, local.minute) == (9, 45) and local.weekday() < 5
    local = timesheets.astimezone(BERLIN)
    assert (local.hour, local.minute, local.weekday()) == (16, 0, 4)

    outcomes = await bot.advance_to(max(standup, timesheets))

    assert {d.outcome.event.source for d in outcomes} == {"schedule:standup", "schedule:reminders.timesheets"}
    assert all(d.action == "done" for d in outcomes)
    chat_id = await bot.state("reminders", "chat_id")
    created = [r for r in bot.requests("roosted", method="POST") if r.path.endswith("/chats")]
    assert [r.body for r in created] == [{"name": "Reminders", "members": ["120915", "2041"]}]
    posted = bot.requests("roosted", method="POST", path=f"/chats/{chat_id}/messages")
    assert sorted(r.body["message"] for r in posted) == [
        "Please submit your timesheet before the weekend.",
        "Stand-up in 15 minutes.",
    ]


async def test_events_can_be_emitted_by_hand(chatwright_bot: BotFactory) -> None:
    """What the README's `chatwright emit ... reminder.due` and `... cron.reminders.timesheets` do."""
    bot = await chatwright_bot.from_config(CONFIG)

    outcomes = await bot.emit("reminder.due", {"text": "Stand-up in 15 minutes."})
    outcomes += await bot.emit("cron.reminders.timesheets")

    assert [d.action for d in outcomes] == ["done", "done"]
    assert [r.body for r in bot.requests("roosted", path="/messages")] == [
        {"message": "Stand-up in 15 minutes."},
        {"message": "Please submit your timesheet before the weekend."},
    ]


def test_check_lists_both_schedules() -> None:
    result = cli("check", str(CONFIG))

    assert result.returncode == 0, result.stderr
    assert "  standup: next fire " in result.stdout
    assert "  reminders.timesheets: next fire " in result.stdout
    assert "on cron.reminders.timesheets -> reminders.timesheets" in result.stdout
