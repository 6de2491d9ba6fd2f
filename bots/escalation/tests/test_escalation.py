"""The escalation bot end to end: signed DevRev deliveries through bots/escalation/bot.toml, the DevRev emulator's
received requests, the bot's state, the verify handshake, retries after DevRev failures, and the reminder."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from adapters.devrev.emulator import TEST_USER_ID
from bots.escalation.plugin import REMINDER_EVENT, reminder_job_id
from bots.escalation.samples import (
    ISSUE_ID,
    PATH,
    SAMPLES,
    SECRET,
    comment_body,
    envelope,
    verify_body,
    work_updated_body,
)
from framework.config import load_config
from framework.events import utcnow
from framework.testing import BotHarness
from framework.testing.pytest_plugin import BotFactory
from framework.triggers.verify_config import HmacSha256Verify

BOT_TOML = Path(__file__).resolve().parents[1] / "bot.toml"
SAMPLE = SAMPLES[0]
RESPONDERS = [TEST_USER_ID, "don:identity:dvrv-us-1:devo/0:devu/2", "don:identity:dvrv-us-1:devo/0:devu/3"]
TITLE = "[P0] ISS-123 Checkout fails for EU cards"
DM = "don:core:dvrv-us-1:devo/0:dm/1"
FACTS = "Priority: P0 | Stage: triage | Owner: Grace Hopper"
LINK = "https://app.devrev.ai/acme/works/ISS-123"
SUMMARY = f"Escalation: {TITLE}\n{FACTS}\nWhy: priority P2 -> P0\n{LINK}"
CREATE = (
    "POST",
    "/chats.create",
    {"type": "dm", "users": RESPONDERS, "title": TITLE, "get_if_conflict": True},
)
LIST = ("POST", "/timeline-entries.list", {"object": DM})


def comment(text: str) -> tuple[str, str, dict[str, Any]]:
    return (
        "POST",
        "/timeline-entries.create",
        {"type": "timeline_comment", "object": DM, "body": text, "body_type": "text"},
    )


async def start(chatwright_bot: BotFactory, *, timeout: float | None = None, **settings: Any) -> BotHarness:
    """The bot with `settings` over its [plugins.escalation] table, and with `timeout`, an adapter that gives up
    on an answer after that many seconds and does not retry a call."""
    if not settings and timeout is None:
        return await chatwright_bot.from_config(BOT_TOML)
    config = load_config(BOT_TOML, environ={})
    table = {**config.plugins.settings["escalation"], **settings}
    plugins = attrs.evolve(config.plugins, settings={**config.plugins.settings, "escalation": table})
    config = attrs.evolve(config, plugins=plugins)
    if timeout is not None:
        devrev = attrs.evolve(config.adapters["devrev"], timeout=timeout, retries=1)
        config = attrs.evolve(config, adapters={"devrev": devrev})
    return await chatwright_bot.start(BotHarness(config))


async def deliver(bot: BotHarness, body: dict[str, Any]) -> tuple[int, Any]:
    signed = SAMPLE.sign(body)
    answer = await bot.post(signed.path, raw=signed.body, headers=signed.headers)
    await bot.settle()
    return answer


def calls(bot: BotHarness) -> list[tuple[str, str, Any]]:
    return [(request.method, request.path, request.body) for request in bot.requests("devrev")]


async def dm_comments(bot: BotHarness) -> list[str]:
    return [message.text async for message in bot.provider("devrev").list_messages(DM)]


def test_samples_are_signed_with_the_routes_secret() -> None:
    route = next(route for route in load_config(BOT_TOML, environ={}).webhooks if route.path == PATH)
    assert route.preset == "devrev"
    assert isinstance(route.verify, HmacSha256Verify) and route.verify.secrets == (SECRET,)
    assert [sample.name for sample in SAMPLES] == [
        "devrev.work_updated",
        "devrev.timeline_entry_created",
        "devrev.verify",
    ]
    assert all(sample.signature_header == "X-DevRev-Signature" for sample in SAMPLES)


async def test_a_p0_update_opens_the_responders_dm_and_posts_a_summary(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)

    status, answer = await deliver(bot, work_updated_body())

    assert status == 202, answer
    assert calls(bot) == [CREATE, comment(SUMMARY)]
    assert await bot.state("escalation", f"dm:{ISSUE_ID}") == DM
    item = await bot.state("escalation", f"item:{ISSUE_ID}")
    assert (item["display_id"], item["priority"], item["stage"], item["matches"]) == (
        "ISS-123",
        "p0",
        "triage",
        True,
    )
    dm = await bot.provider("devrev").get_chat(DM)
    assert (dm.name, sorted(dm.members)) == (TITLE, sorted(RESPONDERS))


async def test_a_repeated_delivery_and_a_resent_update_do_nothing_twice(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)
    body = work_updated_body()
    assert (await deliver(bot, body))[0] == 202

    status, answer = await deliver(bot, body)
    assert (status, answer["duplicate"]) == (200, True)
    resent = {**body, "id": f"{body['id']}-resent"}
    assert (await deliver(bot, resent))[0] == 202

    assert calls(bot) == [CREATE, comment(SUMMARY)]


async def test_an_older_or_unchanged_update_posts_nothing(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)
    assert (await deliver(bot, work_updated_body(modified_date="2025-05-02T10:00:00.000Z")))[0] == 202

    older = work_updated_body(priority="p1", modified_date="2025-05-02T09:00:00.000Z")
    unchanged = work_updated_body(old_priority="p0", modified_date="2025-05-02T11:00:00.000Z")
    assert (await deliver(bot, older))[0] == 202
    assert (await deliver(bot, unchanged))[0] == 202

    assert calls(bot) == [CREATE, comment(SUMMARY)]


async def test_an_update_outside_the_rule_does_nothing(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)

    assert (await deliver(bot, work_updated_body(priority="p2", old_priority="p3")))[0] == 202

    assert calls(bot) == []
    assert (await bot.state("escalation", f"item:{ISSUE_ID}"))["matches"] is False


async def test_a_comment_on_an_escalated_item_is_relayed_once(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)
    assert (await deliver(bot, comment_body(entry_id="c-early")))[0] == 202  # not escalated yet: ignored
    assert (await deliver(bot, work_updated_body()))[0] == 202
    body = comment_body(entry_id="c-1", body="Reproduced on every EU card.")

    assert (await deliver(bot, body))[0] == 202
    assert (await deliver(bot, {**body, "id": f"{body['id']}-resent"}))[0] == 202
    assert (await deliver(bot, comment_body(entry_id="c-2", object_id=DM)))[0] == 202  # a comment in the DM

    relayed = f'Escalation: {TITLE}\n{FACTS}\nWhy: new comment by Grace Hopper: "Reproduced on every EU card."\n{LINK}'
    assert calls(bot) == [CREATE, comment(SUMMARY), comment(relayed)]


async def test_the_verify_handshake_is_answered_through_the_route(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)

    status, answer = await deliver(bot, verify_body("c4ll3ng3"))

    assert (status, answer) == (200, {"challenge": "c4ll3ng3"})
    assert bot.dispositions == [] and calls(bot) == []


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda signed: (signed.body.replace(b'"p0"', b'"p1"', 1), signed.headers), "bad_signature"),
        (lambda signed: (signed.body, {"Content-Type": "application/json"}), "missing_signature"),
    ],
)
async def test_an_unsigned_or_tampered_delivery_is_refused(
    chatwright_bot: BotFactory, change: Any, error: str
) -> None:
    bot = await start(chatwright_bot)
    body, headers = change(SAMPLE.sign(work_updated_body()))

    status, answer = await bot.post(PATH, raw=body, headers=headers)
    await bot.settle()

    assert (status, answer["error"]) == (401, error)
    assert bot.dispositions == [] and calls(bot) == []


async def test_a_stale_delivery_is_refused(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)
    body = {**work_updated_body(), "timestamp": (utcnow() - timedelta(minutes=10)).isoformat()}

    status, answer = await deliver(bot, body)

    assert (status, answer["error"]) == (401, "stale_timestamp")
    assert calls(bot) == []


async def test_a_failed_dm_creation_is_retried_by_the_client(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)
    bot.script("devrev", status=503, path="/chats.create")

    assert (await deliver(bot, work_updated_body()))[0] == 202

    # chats.create with get_if_conflict is safe to repeat, so the adapter repeats it at once.
    assert calls(bot) == [CREATE, CREATE, comment(SUMMARY)]
    assert await dm_comments(bot) == [SUMMARY]


async def test_a_failed_summary_is_retried_into_one_comment(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)
    bot.script("devrev", status=503, path="/timeline-entries.create")

    assert (await deliver(bot, work_updated_body()))[0] == 202

    # The 503 leaves the outcome open: the retry's step journal looks for the comment, finds none, and posts it.
    assert calls(bot) == [CREATE, comment(SUMMARY), LIST, comment(SUMMARY)]
    assert [d.action for d in bot.dispositions] == ["retry", "done"]
    assert await dm_comments(bot) == [SUMMARY]


async def test_a_summary_answered_after_the_timeout_is_posted_once(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot, timeout=0.5)
    # DevRev adds the comment but answers after the adapter gave up: the post is in doubt.
    bot.script("devrev", status=201, path="/timeline-entries.create", delay=1.0)

    assert (await deliver(bot, work_updated_body()))[0] == 202

    # The retry finds the comment in the DM's timeline and does not post it again.
    assert calls(bot) == [CREATE, comment(SUMMARY), LIST]
    assert [d.action for d in bot.dispositions] == ["retry", "done"]
    assert await dm_comments(bot) == [SUMMARY]


async def test_a_reminder_answered_after_the_timeout_is_posted_once(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot, timeout=0.5)
    assert (await deliver(bot, work_updated_body()))[0] == 202
    before = len(calls(bot))
    bot.script("devrev", status=201, path="/timeline-entries.create", delay=1.0)

    fired = await bot.advance_to(utcnow() + timedelta(minutes=61))

    assert [d.action for d in fired] == ["retry", "done"]
    reminder = f"Reminder: {TITLE} still needs attention, 60 min after its escalation.\n{FACTS}\n{LINK}"
    assert calls(bot)[before:] == [comment(reminder), LIST]
    assert await dm_comments(bot) == [SUMMARY, reminder]


async def test_responders_without_the_bot_are_dead_lettered(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot, responders=RESPONDERS[1:])

    assert (await deliver(bot, work_updated_body()))[0] == 202

    [letter] = await bot.dead_letters()
    assert "forbidden" in letter.error and "must be included" in letter.error
    assert len(calls(bot)) == 1


async def test_a_reminder_follows_while_the_item_stays_escalated(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)
    assert (await deliver(bot, work_updated_body()))[0] == 202
    [job] = await bot.runtime.schedules.list()  # type: ignore[union-attr]
    assert (job.id, job.event_type) == (reminder_job_id(ISSUE_ID), REMINDER_EVENT)
    before = len(calls(bot))

    assert await bot.advance_to(utcnow() + timedelta(minutes=50)) == []
    fired = await bot.advance_to(utcnow() + timedelta(minutes=61))
    again = await bot.advance_to(utcnow() + timedelta(hours=5))

    assert [d.action for d in fired] == ["done"] and again == []
    reminder = f"Reminder: {TITLE} still needs attention, 60 min after its escalation.\n{FACTS}\n{LINK}"
    assert calls(bot)[before:] == [comment(reminder)]


async def test_no_reminder_once_the_item_no_longer_matches(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)
    assert (await deliver(bot, work_updated_body()))[0] == 202
    lowered = work_updated_body(priority="p3", old_priority="p0")
    assert (await deliver(bot, lowered))[0] == 202

    assert await bot.runtime.schedules.list() == []  # type: ignore[union-attr]
    await bot.advance_to(utcnow() + timedelta(hours=2))
    assert calls(bot) == [CREATE, comment(SUMMARY)]


async def test_a_ticket_matches_by_severity_and_stage(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot, rule={"priority": [], "severity": ["Blocker"], "stage": ["Triage"]})
    ticket = {
        "type": "ticket",
        "id": "don:core:dvrv-us-1:devo/0:ticket/7",
        "display_id": "TKT-7",
        "title": "Refund stuck",
        "severity": "blocker",
        "stage": {"name": "triage"},
    }

    assert (await deliver(bot, envelope("work_updated", {"work": ticket})))[0] == 202
    assert (
        await deliver(
            bot, envelope("work_updated", {"work": {**ticket, "id": "x", "stage": {"name": "queued"}}})
        )
    )[0] == 202

    [create, post] = calls(bot)
    assert create[2]["title"] == "[BLOCKER] TKT-7 Refund stuck"
    assert post[2]["body"].splitlines()[1:3] == ["Severity: BLOCKER | Stage: triage", "Why: escalated"]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"responders": []}, "plugins.escalation.responders: 0 users"),
        ({"responders": [TEST_USER_ID] * 2}, "plugins.escalation.responders: listed more than once"),
        ({"item_url": "https://x/{org}/{display_id}"}, "plugins.escalation.item_url: unknown field(s) {org}"),
        ({"remind_after_minutes": -5}, "plugins.escalation.remind_after_minutes"),
        ({"rule": {"priorty": ["p0"]}}, "plugins.escalation.rule"),
    ],
)
def test_bad_settings_are_reported_with_their_key(settings: dict[str, Any], expected: str) -> None:
    from framework.errors import ConfigError
    from framework.runtime import resolve_plugins

    config = load_config(BOT_TOML, environ={})
    table = {**config.plugins.settings["escalation"], **settings}
    bad = attrs.evolve(config, plugins=attrs.evolve(config.plugins, settings={"escalation": table}))
    with pytest.raises(ConfigError) as caught:
        resolve_plugins(bad)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


async def test_a_body_that_does_not_fit_is_refused_with_422_and_never_stored(
    chatwright_bot: BotFactory,
) -> None:
    bot = await start(chatwright_bot)
    update = work_updated_body()
    del update["work_updated"]["work"]["id"]
    update["work_updated"]["old_work"] = "ISS-123"
    status, answer = await deliver(bot, update)
    assert (status, answer["error"]) == (422, "invalid_payload")
    assert answer["fields"] == {
        "work_updated.work.id": ["required field missing"],
        "work_updated.old_work": ["expected an object, got a string"],
    }
    note = comment_body()
    note["timeline_entry_created"]["entry"]["id"] = " "
    status, answer = await deliver(bot, note)
    assert (status, answer["fields"]) == (
        422,
        {"timeline_entry_created.entry.id": ["expected a non-empty string, got a blank one"]},
    )
    await bot.settle()

    assert calls(bot) == []
    assert bot.dispositions == [] and await bot.dead_letters() == []


GRACE = RESPONDERS[1]


async def test_ack_in_the_dm_acknowledges_the_item_renames_the_dm_and_stops_reminders(
    chatwright_bot: BotFactory,
) -> None:
    bot = await start(chatwright_bot)
    assert (await deliver(bot, work_updated_body()))[0] == 202
    before = len(calls(bot))

    handled = await bot.write("devrev", DM, GRACE, "ack")

    assert [d.action for d in handled] == ["done"]
    rename = ("POST", "/chats.update", {"id": DM, "title": f"ACK {TITLE}"})
    assert calls(bot)[before:] == [
        rename,
        comment("ISS-123 acknowledged by Grace Hopper; no more reminders."),
    ]
    assert await bot.runtime.schedules.list() == []  # type: ignore[union-attr]
    assert await bot.advance_to(utcnow() + timedelta(hours=2)) == []


async def test_ack_names_an_item_and_says_when_there_is_nothing_to_acknowledge(
    chatwright_bot: BotFactory,
) -> None:
    bot = await start(chatwright_bot)
    assert (await deliver(bot, work_updated_body()))[0] == 202
    before = len(calls(bot))

    await bot.write("devrev", DM, GRACE, "ack ISS-999")
    await bot.write("devrev", DM, GRACE, "ack iss-123")

    replies = [body["body"] for _, path, body in calls(bot)[before:] if path == "/timeline-entries.create"]
    assert replies == [
        "Nothing to acknowledge: no escalated item ISS-999.",
        "ISS-123 acknowledged by Grace Hopper; no more reminders.",
    ]
