"""shiftchat end to end: signed webhooks into bot.toml's route, RoostedHR emulator requests and state out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from adapters.roostedhr.emulator import STATE_KEY
from bots.shiftchat.plugin import reminder_job_id
from bots.shiftchat.samples import PATH, SAMPLES, SHIFT_ID, shift_body
from framework.config import load_config
from framework.errors import ConfigError
from framework.runtime import resolve_plugins
from framework.testing import BotHarness
from framework.testing.pytest_plugin import BotFactory

BOT_TOML = Path(__file__).parents[1] / "bot.toml"
BERLIN = ZoneInfo("Europe/Berlin")
CHATS = "/workers/3158/chats"
SAMPLE = SAMPLES[0]


def _start(days: int = 2, hour: int = 8, minute: int = 0) -> datetime:
    day = datetime.now(BERLIN) + timedelta(days=days)
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0)


def _name(title: str, starts_at: datetime) -> str:
    return f"Shift {title} {starts_at:%a %d %b %H:%M}"


def _calls(bot: BotHarness) -> list[tuple[str, str, Any]]:
    return [(r.method, r.path, r.body) for r in bot.requests("roosted")]


async def _deliver(bot: BotHarness, body: dict[str, Any], delivery_id: str | None = None) -> tuple[int, Any]:
    signed = SAMPLE.sign(body, delivery_id=delivery_id)
    status, answer = await bot.post(signed.path, raw=signed.body, headers=signed.headers)
    await bot.settle()
    return status, answer


async def _publish(bot: BotHarness, starts_at: datetime, **shift: Any) -> str:
    status, _ = await _deliver(bot, shift_body("shift.published", starts_at=starts_at.isoformat(), **shift))
    assert status == 202
    record = await bot.state("shiftchat", f"shift:{SHIFT_ID}")
    return str(record["chat_id"])


async def _jobs(bot: BotHarness) -> dict[str, datetime | None]:
    assert bot.runtime is not None and bot.runtime.schedules is not None
    return {job.id: job.next_fire for job in await bot.runtime.schedules.list()}


def _chats(bot: BotHarness) -> list[Any]:
    return list(bot.emulators["roosted"][STATE_KEY].chats.values())


@pytest.fixture
async def bot(chatwright_bot: BotFactory) -> BotHarness:
    return await chatwright_bot.from_config(BOT_TOML)


async def _impatient(chatwright_bot: BotFactory) -> BotHarness:
    """The bot with an adapter that gives up on an answer after half a second and does not retry a call."""
    config = load_config(BOT_TOML, environ={})
    roosted = attrs.evolve(config.adapters["roosted"], timeout=0.5, retries=1)
    return await chatwright_bot.start(BotHarness(attrs.evolve(config, adapters={"roosted": roosted})))


async def test_published_opens_the_chat_welcomes_and_reminds_an_hour_before(bot: BotHarness) -> None:
    starts_at = _start()
    chat_id = await _publish(bot, starts_at)

    welcome = (
        f"Welcome to the Kitchen morning shift on {starts_at:%a %d %b} at 08:00. "
        "I will remind you 60 minutes before it starts."
    )
    assert _calls(bot) == [
        ("POST", CHATS, {"members": ["120915", "2041", "3158"], "name": _name("Kitchen morning", starts_at)}),
        ("POST", f"{CHATS}/{chat_id}/messages", {"message": welcome}),
    ]
    record = await bot.state("shiftchat", f"shift:{SHIFT_ID}")
    assert record["roster"] == ["120915", "2041"] and record["welcomed"] is True
    remind_at = starts_at - timedelta(minutes=60)
    assert await _jobs(bot) == {reminder_job_id(SHIFT_ID): remind_at.astimezone(UTC)}

    fired = await bot.advance_to(remind_at)
    assert [d.action for d in fired] == ["done"]
    assert _calls(bot)[2:] == [
        ("POST", f"{CHATS}/{chat_id}/messages", {"message": "Your shift Kitchen morning starts at 08:00."})
    ]
    assert await bot.advance_to(remind_at + timedelta(minutes=5)) == []
    assert len(bot.requests("roosted")) == 3
    assert await _jobs(bot) == {}


async def test_a_repeated_delivery_and_a_resent_event_do_nothing_twice(bot: BotHarness) -> None:
    body = shift_body("shift.published", starts_at=_start().isoformat())
    signed = SAMPLE.sign(body, delivery_id="msg_first")
    first = await bot.post(PATH, raw=signed.body, headers=signed.headers)
    again = await bot.post(PATH, raw=signed.body, headers=signed.headers)
    await bot.settle()
    assert first[0] == 202 and again == (200, {"event_id": first[1]["event_id"], "duplicate": True})

    status, _ = await _deliver(bot, body, delivery_id="msg_second")  # same shift, another delivery
    assert status == 202
    assert [(method, path) for method, path, _ in _calls(bot)] == [
        ("POST", CHATS),
        ("POST", f"{CHATS}/{_chats(bot)[0].id}/messages"),
    ]
    assert len(_chats(bot)) == 1 and len(await _jobs(bot)) == 1


async def test_renamed_renames_the_chat_and_moves_the_reminder(bot: BotHarness) -> None:
    starts_at = _start()
    chat_id = await _publish(bot, starts_at)
    later = starts_at + timedelta(hours=2)
    renamed = shift_body("shift.renamed", title="Kitchen late", starts_at=later.isoformat())
    assert (await _deliver(bot, renamed))[0] == 202
    assert (await _deliver(bot, renamed))[0] == 202  # re-sent with a new delivery id

    new_name = _name("Kitchen late", later)
    assert _calls(bot)[2:] == [("PATCH", f"{CHATS}/{chat_id}", {"name": new_name})]
    assert _chats(bot)[0].name == new_name
    assert await _jobs(bot) == {reminder_job_id(SHIFT_ID): (later - timedelta(hours=1)).astimezone(UTC)}

    assert await bot.advance_to(starts_at - timedelta(hours=1)) == []  # the old reminder time: nothing
    assert len(bot.requests("roosted")) == 3
    await bot.advance_to(later - timedelta(hours=1))
    assert _calls(bot)[3:] == [
        ("POST", f"{CHATS}/{chat_id}/messages", {"message": "Your shift Kitchen late starts at 10:00."})
    ]


async def test_roster_changed_replaces_the_members_and_keeps_the_bot(bot: BotHarness) -> None:
    starts_at = _start()
    chat_id = await _publish(bot, starts_at)
    roster = ("120915", "5377")
    changed = shift_body("shift.roster_changed", starts_at=starts_at.isoformat(), worker_ids=roster)
    assert (await _deliver(bot, changed))[0] == 202
    assert (await _deliver(bot, changed))[0] == 202

    assert _calls(bot)[2:] == [("PATCH", f"{CHATS}/{chat_id}", {"members": ["120915", "5377", "3158"]})]
    assert _chats(bot)[0].members == ["120915", "5377", "3158"]
    assert (await bot.state("shiftchat", f"shift:{SHIFT_ID}"))["roster"] == ["120915", "5377"]


async def test_cancelled_drops_the_reminder_and_tells_the_chat_once(bot: BotHarness) -> None:
    starts_at = _start()
    chat_id = await _publish(bot, starts_at)
    cancelled = {"type": "shift.cancelled", "shift": {"id": SHIFT_ID}}
    assert (await _deliver(bot, cancelled))[0] == 202
    assert (await _deliver(bot, cancelled))[0] == 202

    notice = f"The Kitchen morning shift on {starts_at:%a %d %b} at 08:00 was cancelled."
    assert _calls(bot)[2:] == [("POST", f"{CHATS}/{chat_id}/messages", {"message": notice})]
    assert await _jobs(bot) == {}
    assert await bot.advance_to(starts_at) == []
    assert len(bot.requests("roosted")) == 3


async def test_a_tampered_delivery_is_refused_and_nothing_is_called(bot: BotHarness) -> None:
    signed = SAMPLE.sign(shift_body("shift.published", starts_at=_start().isoformat()))
    tampered = signed.body.replace(b"Kitchen morning", b"Kitchen evening")
    status, answer = await bot.post(PATH, raw=tampered, headers=signed.headers)
    await bot.settle()
    assert (status, answer["error"]) == (401, "bad_signature")
    assert bot.requests("roosted") == [] and _chats(bot) == []


async def test_a_failed_create_is_retried_and_makes_one_chat(bot: BotHarness) -> None:
    bot.script("roosted", status=503, method="POST", path=CHATS)
    starts_at = _start()
    chat_id = await _publish(bot, starts_at)

    # The 503 leaves the create in doubt: the retry's step journal looks for the chat by name before it creates
    # it. The welcome was never begun (the first attempt ended normally, its records complete): posted at once.
    assert [(r.method, r.path, r.query.get("search_term")) for r in bot.requests("roosted")] == [
        ("POST", CHATS, None),  # 503: not created
        ("GET", CHATS, _name("Kitchen morning", starts_at)),  # did it land anyway? no
        ("POST", CHATS, None),  # the retry
        ("POST", f"{CHATS}/{chat_id}/messages", None),
    ]
    assert len(_chats(bot)) == 1 and await bot.dead_letters() == []


async def test_a_create_whose_answer_is_lost_adopts_the_chat_it_made(bot: BotHarness) -> None:
    # The emulator creates the chat, then answers 201 without a body: the bot cannot know the id from the answer.
    bot.script("roosted", status=201, method="POST", path=CHATS)
    chat_id = await _publish(bot, _start())

    assert [(r.method, r.path) for r in bot.requests("roosted")] == [
        ("POST", CHATS),
        ("GET", CHATS),  # the retry's read-back: chats by that name made since the event came
        ("GET", f"{CHATS}/{chat_id}"),  # and their members: it is the one
        ("POST", f"{CHATS}/{chat_id}/messages"),  # never begun before: no read-back
    ]
    assert [chat.id for chat in _chats(bot)] == [chat_id] and await bot.dead_letters() == []
    assert [d.action for d in bot.dispositions] == ["retry", "done"]


async def test_a_create_answered_after_the_timeout_makes_one_chat(chatwright_bot: BotFactory) -> None:
    bot = await _impatient(chatwright_bot)
    # RoostedHR creates the chat but answers after the adapter gave up: the create is in doubt.
    bot.script("roosted", status=201, method="POST", path=CHATS, delay=1.0)
    chat_id = await _publish(bot, _start())

    assert [chat.id for chat in _chats(bot)] == [chat_id]
    assert len(_chats(bot)[0].messages) == 1
    assert [d.action for d in bot.dispositions] == ["retry", "done"]
    assert [(r.method, r.path) for r in bot.requests("roosted", method="POST")] == [
        ("POST", CHATS),
        ("POST", f"{CHATS}/{chat_id}/messages"),
    ]


async def test_a_failed_welcome_is_retried_without_a_second_chat(bot: BotHarness) -> None:
    bot.script("roosted", status=503, method="POST", path="*/messages")
    chat_id = await _publish(bot, _start())

    assert [(r.method, r.path) for r in bot.requests("roosted")] == [
        ("POST", CHATS),
        ("POST", f"{CHATS}/{chat_id}/messages"),  # 503
        ("GET", f"{CHATS}/{chat_id}/messages"),  # the retry: did it land anyway? no
        ("POST", f"{CHATS}/{chat_id}/messages"),  # the chat is remembered, not created again
    ]
    assert len(_chats(bot)) == 1 and len(_chats(bot)[0].messages) == 1


async def test_a_reminder_answered_after_the_timeout_is_posted_once(chatwright_bot: BotFactory) -> None:
    bot = await _impatient(chatwright_bot)
    starts_at = _start()
    chat_id = await _publish(bot, starts_at)
    # RoostedHR posts the reminder but answers after the adapter gave up: the post is in doubt.
    bot.script("roosted", status=201, method="POST", path="*/messages", delay=1.0)

    fired = await bot.advance_to(starts_at - timedelta(minutes=60))

    assert [d.action for d in fired] == ["retry", "done"]
    reminder = {"message": "Your shift Kitchen morning starts at 08:00."}
    assert _calls(bot)[2:] == [
        ("POST", f"{CHATS}/{chat_id}/messages", reminder),  # answered too late
        ("GET", f"{CHATS}/{chat_id}/messages", None),  # the retry finds it: not posted again
    ]
    assert [message.text for message in _chats(bot)[0].messages][1:] == [reminder["message"]]


async def test_a_shift_that_does_not_fit_is_refused_with_422_and_never_stored(bot: BotHarness) -> None:
    body = shift_body("shift.published", title=" ")
    del body["shift"]["starts_at"]
    body["shift"]["worker_ids"] = ["w1", 7, True]
    status, answer = await _deliver(bot, body)
    assert status == 422
    assert answer["error"] == "invalid_payload"
    assert answer["fields"] == {
        "shift.title": ["expected a non-empty string, got a blank one"],
        "shift.starts_at": ["required field missing"],
        "shift.worker_ids[2]": ["expected a non-empty string or an integer id, got a boolean"],
    }
    cancelled = shift_body("shift.cancelled")
    del cancelled["shift"]["id"]
    assert (await _deliver(bot, cancelled))[0] == 422
    await bot.settle()
    assert bot.dispositions == [] and await bot.dead_letters() == []
    assert bot.requests("roosted") == []


async def test_a_shift_emitted_without_a_start_is_dead_lettered_without_calls(bot: BotHarness) -> None:
    body = shift_body("shift.published")
    del body["shift"]["starts_at"]
    await bot.emit("shift.published", body)
    [letter] = await bot.dead_letters()
    assert "shift.starts_at: required field missing" in letter.error
    assert bot.requests("roosted") == []


def test_a_bad_template_is_refused_with_its_key(tmp_path: Path) -> None:
    config = BOT_TOML.read_text().replace("[plugins.shiftchat]", '[plugins.shiftchat]\nwelcome = "Hi {name}"')
    path = tmp_path / "bot.toml"
    path.write_text(config)
    with pytest.raises(ConfigError, match=r"plugins\.shiftchat\.welcome: unknown field\(s\) \{name\}"):
        resolve_plugins(load_config(path, environ={}))


async def test_a_worker_asks_when_and_gets_the_shifts_times(bot: BotHarness) -> None:
    starts_at = _start()
    chat_id = await _publish(bot, starts_at)
    before = len(_posts(bot))

    handled = await bot.write("roosted", chat_id, "2041", "when?")  # not the command: nothing
    handled += await bot.write("roosted", chat_id, "2041", "When does it start")

    assert [d.action for d in handled] == ["done", "done"]
    answer = f"Kitchen morning: {starts_at:%a %d %b} 08:00-14:00 (Europe/Berlin)"
    assert _posts(bot)[before:] == [("POST", f"{CHATS}/{chat_id}/messages", {"message": answer})]
    await bot.poll("roosted")  # the answer is the bot's own message: never heard
    await bot.settle()
    assert len(_posts(bot)) == before + 1


async def test_when_in_a_cancelled_shifts_chat_says_so(bot: BotHarness) -> None:
    chat_id = await _publish(bot, _start())
    assert (await _deliver(bot, shift_body("shift.cancelled")))[0] == 202
    before = len(_posts(bot))

    await bot.write("roosted", chat_id, "120915", "when")

    answer = ("POST", f"{CHATS}/{chat_id}/messages", {"message": "Kitchen morning is cancelled."})
    assert _posts(bot)[before:] == [answer]


def _posts(bot: BotHarness) -> list[tuple[str, str, Any]]:
    """What the bot did at RoostedHR (its polls' reads left out)."""
    return [call for call in _calls(bot) if call[0] != "GET"]
