"""eventrooms end to end: signed alarm webhooks and digest fires in, GroupAlarm emulator requests and state out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from adapters.groupalarm.emulator import STATE_KEY
from adapters.groupalarm.emulator_state import GroupAlarmState
from bots.eventrooms.plugin import DIGEST_EVENT
from bots.eventrooms.samples import PATH, SAMPLES, alarm_body
from framework.config import load_config
from framework.emulation import FAULTS_KEY
from framework.events import new_event, utcnow
from framework.testing import BotHarness, wait_until
from framework.testing.pytest_plugin import BotFactory

BOT_TOML = Path(__file__).parents[1] / "bot.toml"
BERLIN = ZoneInfo("Europe/Berlin")
SAMPLE = SAMPLES[0]
TEXT = alarm_body()["event"]["text"]
FIRST_ROOM = 2
"""The emulator starts with event room 1; the first room the bot creates is 2."""


def _calls(bot: BotHarness) -> list[tuple[str, str, Any]]:
    return [(r.method, r.path, r.body) for r in bot.requests("groupalarm")]


def _emulator(bot: BotHarness) -> GroupAlarmState:
    return bot.emulators["groupalarm"][STATE_KEY]


def _next_digest() -> datetime:
    """The first 18:00 Berlin after now: when the bot.toml schedule fires next."""
    now = datetime.now(BERLIN)
    today = now.replace(hour=18, minute=0, second=0, microsecond=0)
    return today if today > now else today + timedelta(days=1)


async def _deliver(bot: BotHarness, body: dict[str, Any], delivery_id: str | None = None) -> tuple[int, Any]:
    signed = SAMPLE.sign(body, delivery_id=delivery_id)
    status, answer = await bot.post(signed.path, raw=signed.body, headers=signed.headers)
    await bot.settle()
    return status, answer


async def _started_at(bot: BotHarness, event_id: int) -> datetime:
    record = await bot.state("eventrooms", f"event:{event_id}")
    return datetime.fromisoformat(record["started_at"]).astimezone(BERLIN)


@pytest.fixture
async def bot(chatwright_bot: BotFactory) -> BotHarness:
    return await chatwright_bot.from_config(BOT_TOML)


async def _start(chatwright_bot: BotFactory, **adapter: Any) -> BotHarness:
    """The bot with `adapter` over its [adapters.groupalarm] table."""
    config = load_config(BOT_TOML, environ={})
    groupalarm = attrs.evolve(config.adapters["groupalarm"], **adapter)
    return await chatwright_bot.start(BotHarness(attrs.evolve(config, adapters={"groupalarm": groupalarm})))


IMPATIENT = {"timeout": 0.5, "retries": 1}
"""An adapter that gives up on an answer after half a second and does not retry a call."""


async def test_alarm_started_opens_the_room_with_the_responders_and_posts_the_text(bot: BotHarness) -> None:
    status, _ = await _deliver(bot, alarm_body())
    assert status == 202
    assert _calls(bot) == [
        (
            "POST",
            "/chatroom",
            {"assignedUsers": [11, 12, 13], "name": "Alarm 4712: Fire Main Street 12", "organizationID": 1},
        ),
        ("POST", f"/chatroom/{FIRST_ROOM}/message", {"message": TEXT}),
    ]
    record = await bot.state("eventrooms", "event:4712")
    assert (record["room_id"], record["organization_id"], record["posted"]) == (FIRST_ROOM, 1, True)
    assert [message.message for message in _emulator(bot).messages] == [TEXT]


async def test_a_repeated_delivery_and_a_resent_alarm_do_nothing_twice(bot: BotHarness) -> None:
    signed = SAMPLE.sign(alarm_body(), delivery_id="msg_alarm")
    first = await bot.post(PATH, raw=signed.body, headers=signed.headers)
    again = await bot.post(PATH, raw=signed.body, headers=signed.headers)
    assert first[0] == 202 and again == (200, {"event_id": first[1]["event_id"], "duplicate": True})
    assert (await _deliver(bot, alarm_body(), delivery_id="msg_alarm_resent"))[0] == 202

    assert [(method, path) for method, path, _ in _calls(bot)] == [
        ("POST", "/chatroom"),
        ("POST", f"/chatroom/{FIRST_ROOM}/message"),
    ]
    assert sorted(_emulator(bot).rooms) == [1, FIRST_ROOM]


async def test_a_tampered_delivery_is_refused_and_nothing_is_called(bot: BotHarness) -> None:
    signed = SAMPLE.sign(alarm_body())
    status, answer = await bot.post(
        PATH, raw=signed.body.replace(b"[11,12,13]", b"[11,12,66]"), headers=signed.headers
    )
    await bot.settle()
    assert (status, answer["error"]) == (401, "bad_signature")
    assert bot.requests("groupalarm") == []


async def test_a_failed_create_is_retried_and_makes_one_room(bot: BotHarness) -> None:
    bot.script("groupalarm", status=503, method="POST", path="/chatroom")
    assert (await _deliver(bot, alarm_body()))[0] == 202

    assert [(r.method, r.path, r.query) for r in bot.requests("groupalarm")] == [
        ("POST", "/chatroom", {}),  # 503: not created
        ("GET", "/chatrooms", {"organization_id": "1", "all": "true"}),  # the retry: did it land anyway? no
        ("POST", "/chatroom", {}),
        ("POST", f"/chatroom/{FIRST_ROOM}/message", {}),
    ]
    assert sorted(_emulator(bot).rooms) == [1, FIRST_ROOM] and await bot.dead_letters() == []


async def test_a_create_whose_answer_is_lost_adopts_the_room_it_made(bot: BotHarness) -> None:
    bot.script("groupalarm", status=201, method="POST", path="/chatroom")  # acts, then answers no body
    assert (await _deliver(bot, alarm_body()))[0] == 202

    assert [(r.method, r.path) for r in bot.requests("groupalarm")] == [
        ("POST", "/chatroom"),
        ("GET", "/chatrooms"),  # the retry finds the room by name and responders
        ("POST", f"/chatroom/{FIRST_ROOM}/message"),
    ]
    assert sorted(_emulator(bot).rooms) == [1, FIRST_ROOM] and await bot.dead_letters() == []
    assert [d.action for d in bot.dispositions] == ["retry", "done"]


async def test_a_room_creation_answered_after_the_timeout_makes_one_room(chatwright_bot: BotFactory) -> None:
    bot = await _start(chatwright_bot, **IMPATIENT)
    # GroupAlarm creates the room but answers after the adapter gave up: the creation is in doubt.
    bot.script("groupalarm", status=201, method="POST", path="/chatroom", delay=1.0)
    assert (await _deliver(bot, alarm_body()))[0] == 202

    assert [(r.method, r.path) for r in bot.requests("groupalarm")] == [
        ("POST", "/chatroom"),
        ("GET", "/chatrooms"),  # the retry finds the room by name and responders
        ("POST", f"/chatroom/{FIRST_ROOM}/message"),
    ]
    assert sorted(_emulator(bot).rooms) == [1, FIRST_ROOM]
    assert [message.message for message in _emulator(bot).messages] == [TEXT]
    assert [d.action for d in bot.dispositions] == ["retry", "done"]


async def test_a_failed_post_is_retried_without_a_second_room(bot: BotHarness) -> None:
    bot.script("groupalarm", status=503, method="POST", path=f"/chatroom/{FIRST_ROOM}/message")
    assert (await _deliver(bot, alarm_body()))[0] == 202

    assert [(r.method, r.path) for r in bot.requests("groupalarm")] == [
        ("POST", "/chatroom"),
        ("POST", f"/chatroom/{FIRST_ROOM}/message"),  # 503
        ("POST", f"/chatroom/{FIRST_ROOM}/message"),  # the retry
    ]
    assert len(_emulator(bot).messages) == 1


async def test_the_daily_digest_lists_the_alarms_in_the_default_room(bot: BotHarness) -> None:
    await _deliver(bot, alarm_body())
    await _deliver(bot, SAMPLES[1].body())
    before = len(bot.requests("groupalarm"))
    digest_at = _next_digest()

    fired = await bot.advance_to(digest_at)
    assert [(d.outcome.event.type, d.action) for d in fired] == [(DIGEST_EVENT, "done")]
    default_room = FIRST_ROOM + 2
    since = digest_at - timedelta(hours=24)
    first, second = await _started_at(bot, 4712), await _started_at(bot, 4713)
    digest = (
        f"Alarm digest {digest_at:%a %d %b}: 2 alarm(s) since {since:%a %H:%M}\n"
        f"- {first:%H:%M} Fire Main Street 12 (#4712)\n"
        f"- {second:%H:%M} Flooded cellar (#4713)"
    )
    assert _calls(bot)[before:] == [
        ("POST", "/chatroom/default/1", None),
        ("POST", f"/chatroom/{default_room}/message", {"message": digest}),
    ]
    assert _emulator(bot).rooms[default_room].type == "default"
    assert await bot.state("eventrooms", "digest:last") == digest_at.astimezone(UTC).isoformat()

    # The next day: no alarm since the last digest, so nothing is posted.
    assert [d.action for d in await bot.advance_to(digest_at + timedelta(days=1))] == ["done"]
    assert len(bot.requests("groupalarm")) == before + 2


async def test_an_existing_default_room_is_found_once_and_remembered(bot: BotHarness) -> None:
    existing = _emulator(bot).add_room(
        name="Organization", organization_id=1, assigned_users=[7, 11], type="default"
    )
    await _deliver(bot, alarm_body())
    digest_at = _next_digest()
    await bot.advance_to(digest_at)
    later = digest_at + timedelta(hours=3)
    event = new_event(
        "alarm.started", alarm_body(4800, name="Gas leak", text="Gas smell."), occurred_at=later
    )
    await bot.append(event)
    await bot.settle()
    await bot.advance_to(digest_at + timedelta(days=1))

    assert [(r.method, r.path) for r in bot.requests("groupalarm")][2:] == [
        ("POST", "/chatroom/default/1"),  # 409: it exists
        ("GET", "/chatrooms"),  # so it is looked up
        ("POST", f"/chatroom/{existing.id}/message"),
        ("POST", "/chatroom"),  # the Gas leak alarm
        ("POST", f"/chatroom/{existing.id + 2}/message"),
        ("POST", f"/chatroom/{existing.id}/message"),  # the next digest: the room is remembered
    ]
    assert "1 alarm(s)" in _emulator(bot).messages[-1].message
    assert "Gas leak (#4800)" in _emulator(bot).messages[-1].message


async def test_a_failed_digest_post_is_retried_and_posted_once(bot: BotHarness) -> None:
    await _deliver(bot, alarm_body())
    default_room = FIRST_ROOM + 1
    bot.script("groupalarm", status=503, method="POST", path=f"/chatroom/{default_room}/message")
    await bot.advance_to(_next_digest())

    assert [(r.method, r.path) for r in bot.requests("groupalarm")][2:] == [
        ("POST", "/chatroom/default/1"),
        ("POST", f"/chatroom/{default_room}/message"),  # 503
        ("POST", f"/chatroom/{default_room}/message"),  # the retry; the default room is not created again
    ]
    assert [m.room_id for m in _emulator(bot).messages] == [FIRST_ROOM, default_room]


async def test_a_default_room_answered_after_the_timeout_is_found_on_the_retry(
    chatwright_bot: BotFactory,
) -> None:
    bot = await _start(chatwright_bot, **IMPATIENT)
    await _deliver(bot, alarm_body())
    # GroupAlarm creates the default room (a step made through the typed client) but answers after the adapter
    # gave up: the retry finds it instead of being refused with a 409.
    bot.script("groupalarm", status=201, method="POST", path="/chatroom/default/1", delay=1.0)

    fired = await bot.advance_to(_next_digest())

    assert [d.action for d in fired] == ["retry", "done"]
    default_room = FIRST_ROOM + 1
    assert [(r.method, r.path) for r in bot.requests("groupalarm")][2:] == [
        ("POST", "/chatroom/default/1"),
        ("GET", "/chatrooms"),
        ("POST", f"/chatroom/{default_room}/message"),
    ]
    assert [m.room_id for m in _emulator(bot).messages] == [FIRST_ROOM, default_room]
    assert await bot.state("eventrooms", "default_room:1") == default_room


async def test_a_retried_digest_posts_what_its_first_attempt_read(bot: BotHarness) -> None:
    await _deliver(bot, alarm_body())
    # An alarm of a second organization, whose default room is remembered as the emulator's seed room (the
    # emulator's token reaches organization 1 only): the digest posts twice, and its second post fails once.
    assert bot.runtime is not None
    store = bot.runtime.store
    other = {"room_id": 1, "name": "Gas leak", "organization_id": 2, "started_at": utcnow().isoformat()}
    await store.state_set("eventrooms", "event:4800", {**other, "posted": True})
    await store.state_set("eventrooms", "default_room:2", 1)
    bot.script("groupalarm", status=503, method="POST", path="/chatroom/1/message")
    digest_at = _next_digest()
    before = len(bot.requests("groupalarm"))

    # An alarm of organization 1 that started before the fire is remembered while the digest runs (its webhook
    # came late): requests are slowed down so that it lands after the digest listed the alarms, before it posts.
    faults = bot.emulators["groupalarm"][FAULTS_KEY]
    faults.options = attrs.evolve(faults.options, latency=0.1)
    fire = asyncio.create_task(bot.advance_to(digest_at))
    await wait_until(lambda: len(bot.requests("groupalarm")) > before)
    late = {"room_id": 1, "name": "Late", "organization_id": 1, "posted": True}
    await store.state_set(
        "eventrooms", "event:4999", {**late, "started_at": (digest_at - timedelta(minutes=1)).isoformat()}
    )
    fired = await fire

    # The retry posts the digest it listed first: organization 1's, posted before the failure, is not posted
    # again with the late alarm in it.
    assert [d.action for d in fired] == ["retry", "done"]
    default_room = FIRST_ROOM + 1
    texts = {
        room: [m.message for m in _emulator(bot).messages if m.room_id == room] for room in (1, default_room)
    }
    [first] = texts[default_room]
    assert "(#4712)" in first and "(#4999)" not in first
    assert len(texts[1]) == 1 and "Gas leak (#4800)" in texts[1][0]


async def test_an_alarm_that_does_not_fit_is_refused_with_422_and_never_stored(bot: BotHarness) -> None:
    body = alarm_body()
    del body["event"]["organization_id"]
    body["event"]["id"] = "4712a"
    body["event"]["responder_ids"] = [1, "2", 0]
    status, answer = await _deliver(bot, body)
    assert status == 422
    assert answer == {
        "error": "invalid_payload",
        "detail": "the body does not fit the payload type of its event; see fields",
        "fields": {
            "event.id": ["expected a positive integer id, got a string"],
            "event.organization_id": ["required field missing"],
            "event.responder_ids[2]": ["expected a positive integer id, got the number 0"],
        },
    }
    await bot.settle()
    assert bot.dispositions == [] and await bot.dead_letters() == []
    assert bot.requests("groupalarm") == []


async def test_an_alarm_emitted_without_an_organization_is_dead_lettered_without_calls(
    bot: BotHarness,
) -> None:
    body = alarm_body()
    del body["event"]["organization_id"]
    await bot.emit("alarm.started", body)
    [letter] = await bot.dead_letters()
    assert "event.organization_id: required field missing" in letter.error
    assert bot.requests("groupalarm") == []
