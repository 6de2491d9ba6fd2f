"""The ambassador bot end to end: signed `match.created` deliveries through bots/ambassador/bot.toml, the Popsell
emulator's received requests, the bot's state, retries after Popsell failures, and the follow-up schedule."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from bots.ambassador.config import AmbassadorConfig
from bots.ambassador.plugin import FOLLOW_UP_EVENT, follow_up_job_id
from bots.ambassador.samples import MATCH_ID, PATH, SAMPLES, SECRET, match_body
from framework.config import load_config
from framework.events import utcnow
from framework.testing import BotHarness
from framework.testing.pytest_plugin import BotFactory

BOT_TOML = Path(__file__).resolve().parents[1] / "bot.toml"
SAMPLE = next(sample for sample in SAMPLES if sample.name == "match.created")
WELCOME = AmbassadorConfig().welcome.format(first_name="Dario")
FOLLOW_UP = AmbassadorConfig().follow_up.format(first_name="Dario")
AUTH = ("POST", "/auth/token", {"api_key": "test-key"})
CREATE = ("POST", "/chat/chatrooms", {"ids_ambassadors": [1, 4], "source": 0})
LOOKUP = ("GET", "/chat/ambassadors/4/chatrooms", None)
"""The read-back of a chatroom creation in doubt: the chatrooms of the one of the pair who is not the sender."""


def post(chatroom: int, text: str = WELCOME, sender: int = 1) -> tuple[str, str, Any]:
    return (
        "POST",
        f"/chat/chatrooms/{chatroom}/messages",
        {"id_ambassador": sender, "content": text, "type_message": 0},
    )


def messages(chatroom: int) -> tuple[str, str, None]:
    return ("GET", f"/chat/chatrooms/{chatroom}/messages", None)


async def start(chatwright_bot: BotFactory, *, timeout: float | None = None, **settings: Any) -> BotHarness:
    """The bot with `settings` over its [plugins.ambassador] table, and with `timeout`, an adapter that gives up
    on an answer after that many seconds and does not retry a call."""
    if not settings and timeout is None:
        return await chatwright_bot.from_config(BOT_TOML)
    config = load_config(BOT_TOML, environ={})
    table = {**config.plugins.settings["ambassador"], **settings}
    plugins = attrs.evolve(config.plugins, settings={**config.plugins.settings, "ambassador": table})
    config = attrs.evolve(config, plugins=plugins)
    if timeout is not None:
        popsell = attrs.evolve(config.adapters["popsell"], timeout=timeout, retries=1)
        config = attrs.evolve(config, adapters={"popsell": popsell})
    return await chatwright_bot.start(BotHarness(config))


async def deliver(
    bot: BotHarness, body: dict[str, Any] | None = None, *, delivery_id: str | None = None
) -> tuple[int, Any]:
    signed = SAMPLE.sign(body, delivery_id=delivery_id)
    answer = await bot.post(signed.path, raw=signed.body, headers=signed.headers)
    await bot.settle()
    return answer


def calls(bot: BotHarness) -> list[tuple[str, str, Any]]:
    return [(request.method, request.path, request.body) for request in bot.requests("popsell")]


def test_samples_are_signed_with_the_routes_secret() -> None:
    route = next(route for route in load_config(BOT_TOML, environ={}).webhooks if route.path == PATH)
    assert route.verify.scheme == "standard-webhooks"
    assert route.verify.secrets == (SECRET,)
    assert {sample.name for sample in SAMPLES} == {"match.created", "match.created.new"}


async def test_a_match_opens_the_pairs_chatroom_and_welcomes_them(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)

    status, answer = await deliver(bot)

    assert status == 202, answer
    assert calls(bot) == [AUTH, CREATE, post(1)]
    record = await bot.state("ambassador", f"match:{MATCH_ID}")
    assert record == {"chatroom_id": "1", "done": True}
    assert await bot.dead_letters() == []


async def test_a_repeated_delivery_and_a_resent_match_do_nothing_twice(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)
    body = match_body()
    assert (await deliver(bot, body, delivery_id="msg_first"))[0] == 202

    status, answer = await deliver(bot, body, delivery_id="msg_first")
    assert (status, answer["duplicate"]) == (200, True)
    status, _ = await deliver(bot, match_body(), delivery_id="msg_resent")
    assert status == 202

    assert calls(bot) == [AUTH, CREATE, post(1)]


async def test_a_tampered_delivery_is_refused_and_nothing_is_called(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)
    signed = SAMPLE.sign()
    tampered = signed.body.replace(b'"customer_ambassador_id":4', b'"customer_ambassador_id":2')
    assert tampered != signed.body

    status, answer = await bot.post(PATH, raw=tampered, headers=signed.headers)
    await bot.settle()

    assert (status, answer["error"]) == (401, "bad_signature")
    assert calls(bot) == []
    assert bot.dispositions == []


async def test_a_failed_chatroom_creation_is_retried_into_one_chatroom(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)
    bot.script("popsell", status=503, method="POST", path="/chat/chatrooms")

    assert (await deliver(bot))[0] == 202

    # The 503 leaves the outcome open: the retry's step journal looks for the chatroom, finds none, and opens it
    # once; the welcome was never begun (the first attempt ended normally), so it is posted without a look.
    assert calls(bot) == [AUTH, CREATE, LOOKUP, CREATE, post(1)]
    assert [d.action for d in bot.dispositions] == ["retry", "done"]


async def test_a_lost_answer_to_the_creation_reuses_the_chatroom(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)
    # Popsell creates the chatroom but its answer is empty: the bot cannot know the id from the answer.
    bot.script("popsell", status=201, method="POST", path="/chat/chatrooms")

    assert (await deliver(bot))[0] == 202

    # The handler fails; its retry finds the chatroom at Popsell instead of opening a second one.
    assert calls(bot) == [AUTH, CREATE, LOOKUP, post(1)]
    assert (await bot.state("ambassador", f"match:{MATCH_ID}"))["chatroom_id"] == "1"
    assert [d.action for d in bot.dispositions] == ["retry", "done"]


async def test_a_failed_welcome_is_retried_into_one_message(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)
    bot.script("popsell", status=503, method="POST", path="/chat/chatrooms/1/messages")

    assert (await deliver(bot))[0] == 202

    # The 503 leaves the outcome open: the retry looks for the welcome, finds none, and posts it.
    assert calls(bot) == [AUTH, CREATE, post(1), messages(1), post(1)]
    room = await bot.provider("popsell").get_chat("1")
    assert room.members == ("1", "4")
    texts = [message.text async for message in bot.provider("popsell").list_messages("1")]
    assert texts == [WELCOME]


async def test_a_creation_answered_after_the_timeout_makes_one_chatroom(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot, timeout=0.5)
    # Popsell creates the chatroom but answers after the adapter gave up: the creation is in doubt.
    bot.script("popsell", status=201, method="POST", path="/chat/chatrooms", delay=1.0)

    assert (await deliver(bot))[0] == 202

    assert calls(bot) == [AUTH, CREATE, LOOKUP, post(1)]
    assert [d.action for d in bot.dispositions] == ["retry", "done"]
    texts = [message.text async for message in bot.provider("popsell").list_messages("1")]
    assert texts == [WELCOME]


async def test_a_welcome_as_the_ambassador_answered_after_the_timeout_is_posted_once(
    chatwright_bot: BotFactory,
) -> None:
    bot = await start(chatwright_bot, timeout=0.5, post_as="ambassador")
    # Popsell stores the message but answers after the adapter gave up: the post (a step made through the
    # typed client, as the matched ambassador) is in doubt, and the retry finds it among the messages.
    bot.script("popsell", status=201, method="POST", path="/chat/chatrooms/*/messages", delay=1.0)

    assert (await deliver(bot, match_body(ambassador_id=2)))[0] == 202

    create = ("POST", "/chat/chatrooms", {"ids_ambassadors": [2, 4], "source": 0})
    assert calls(bot) == [AUTH, create, post(1, sender=2), messages(1)]
    assert [d.action for d in bot.dispositions] == ["retry", "done"]
    texts = [message.text async for message in bot.provider("popsell").list_messages("1")]
    assert texts == [WELCOME]


async def test_a_follow_up_answered_after_the_timeout_is_posted_once(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot, timeout=0.5)
    assert (await deliver(bot))[0] == 202
    before = len(calls(bot))
    bot.script("popsell", status=201, method="POST", path="/chat/chatrooms/*/messages", delay=1.0)

    fired = await bot.advance_to(utcnow() + timedelta(hours=25))

    assert [d.action for d in fired] == ["retry", "done"]
    # The retry reads the messages twice: has the customer written (then no follow-up), and is the follow-up of
    # the attempt before there after all? It is: not posted again.
    assert calls(bot)[before:] == [messages(1), post(1, FOLLOW_UP), messages(1), messages(1)]
    texts = [message.text async for message in bot.provider("popsell").list_messages("1")]
    assert texts == [WELCOME, FOLLOW_UP]


async def test_a_sender_outside_the_pair_is_dead_lettered_before_any_call(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)

    assert (await deliver(bot, match_body(ambassador_id=2)))[0] == 202

    assert calls(bot) == []
    [letter] = await bot.dead_letters()
    assert "sender_ambassador_id" in letter.error and 'post_as = "ambassador"' in letter.error


async def test_post_as_ambassador_welcomes_as_the_matched_ambassador(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot, post_as="ambassador")

    assert (await deliver(bot, match_body(ambassador_id=2)))[0] == 202

    assert calls(bot) == [
        AUTH,
        ("POST", "/chat/chatrooms", {"ids_ambassadors": [2, 4], "source": 0}),
        post(1, sender=2),
    ]


async def test_a_malformed_match_is_refused_with_422_and_never_stored(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)

    status, answer = await deliver(
        bot, {"type": "match.created", "match": {"id": "mt_9", "ambassador_id": "x"}}
    )
    assert status == 422
    assert answer["error"] == "invalid_payload"
    assert answer["fields"] == {
        "match.customer_ambassador_id": ["required field missing"],
        "match.ambassador_id": ["expected a positive integer id, got a string"],
    }
    same = {"type": "match.created", "match": {"id": 9, "customer_ambassador_id": 4, "ambassador_id": "4"}}
    status, answer = await deliver(bot, same)
    assert (status, answer["fields"]) == (
        422,
        {"match": ["the customer and the ambassador are the same ambassador (4)"]},
    )
    await bot.settle()

    assert calls(bot) == []
    assert bot.dispositions == [] and await bot.dead_letters() == []


async def test_the_follow_up_is_posted_once_when_the_customer_stays_silent(
    chatwright_bot: BotFactory,
) -> None:
    bot = await start(chatwright_bot)
    assert (await deliver(bot))[0] == 202
    [job] = await bot.runtime.schedules.list()  # type: ignore[union-attr]
    assert (job.id, job.event_type) == (follow_up_job_id(MATCH_ID), FOLLOW_UP_EVENT)
    before = len(calls(bot))

    assert await bot.advance_to(utcnow() + timedelta(hours=23)) == []
    fired = await bot.advance_to(utcnow() + timedelta(hours=25))
    again = await bot.advance_to(utcnow() + timedelta(hours=50))

    assert [d.action for d in fired] == ["done"] and again == []
    assert calls(bot)[before:] == [messages(1), post(1, FOLLOW_UP)]


async def test_no_follow_up_once_the_customer_has_written(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)
    assert (await deliver(bot))[0] == 202
    popsell = bot.provider("popsell")
    await popsell.client.post_message(1, id_ambassador=4, content="Hi Alice! Which size should I take?")  # type: ignore[attr-defined]
    before = len(calls(bot))

    await bot.advance_to(utcnow() + timedelta(hours=25))

    assert calls(bot)[before:] == [messages(1)]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"welcome": "Hi {name}"}, "plugins.ambassador.welcome: unknown field(s) {name}"),
        ({"post_as": "bot"}, "plugins.ambassador.post_as"),
        ({"follow_up_after_hours": -1}, "plugins.ambassador.follow_up_after_hours"),
    ],
)
def test_bad_settings_are_reported_with_their_key(
    tmp_path: Path, settings: dict[str, Any], expected: str
) -> None:
    from framework.errors import ConfigError
    from framework.runtime import resolve_plugins

    config = load_config(BOT_TOML, environ={})
    table = {**config.plugins.settings["ambassador"], **settings}
    bad = attrs.evolve(config, plugins=attrs.evolve(config.plugins, settings={"ambassador": table}))
    with pytest.raises(ConfigError) as caught:
        resolve_plugins(bad)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


async def test_the_follow_up_is_cancelled_as_soon_as_the_customer_writes(chatwright_bot: BotFactory) -> None:
    bot = await start(chatwright_bot)
    assert (await deliver(bot))[0] == 202
    assert len(await bot.runtime.schedules.list()) == 1  # type: ignore[union-attr]

    await bot.write("popsell", "1", "1", "(the bot's own ambassador writes: never heard)")
    assert len(await bot.runtime.schedules.list()) == 1  # type: ignore[union-attr]
    handled = await bot.write("popsell", "1", "4", "Hi Alice! Which size should I take?")

    assert [d.action for d in handled] == ["done"]
    assert await bot.runtime.schedules.list() == []  # type: ignore[union-attr]
    before = len(calls(bot))
    assert await bot.advance_to(utcnow() + timedelta(hours=25)) == []
    assert calls(bot)[before:] == []
