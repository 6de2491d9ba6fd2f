"""DevRev read-back against its emulator: the default DM of the same users and the comment, made since."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from adapters.devrev import DevRevConfig, DevRevProvider
from adapters.devrev.emulator import STATE_KEY, TEST_TOKEN, TEST_USER_ID, create_app
from adapters.devrev.emulator_state import DevRevState
from adapters.devrev.provider import build_provider
from adapters.readback import MAX_ITEMS
from framework.adapter_registry import EmulatorOptions
from framework.chats import Capability, ReadBack
from framework.emulation import FAULTS_KEY, ScriptedAnswer
from framework.errors import InvalidRequest, Unsupported
from tests.adapters.emulator_helpers import sent

GRACE = "don:identity:dvrv-us-1:devo/0:devu/2"
ALAN = "don:identity:dvrv-us-1:devo/0:devu/3"
EARLIER = timedelta(minutes=5)
MakeProvider = Callable[..., DevRevProvider]


@pytest.fixture
async def server(aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(create_app(EmulatorOptions()))


@pytest.fixture
async def make_devrev(server: TestServer) -> AsyncIterator[MakeProvider]:
    built: list[DevRevProvider] = []

    def make(**config: Any) -> DevRevProvider:
        settings = {"base_url": str(server.make_url("")), "token": TEST_TOKEN, **config}
        built.append(build_provider("dr", DevRevConfig(**settings)))
        return built[-1]

    yield make
    for provider in built:
        await provider.close()


@pytest.fixture
def devrev(make_devrev: MakeProvider) -> DevRevProvider:
    return make_devrev(user_id=TEST_USER_ID)


def state(server: TestServer) -> DevRevState:
    return server.app[STATE_KEY]


def backdate(server: TestServer, chat_id: str) -> None:
    """Make a DM and its comments look as if they were made before the step began."""
    chat = state(server).chats[chat_id]
    chat.created -= EARLIER
    for entry in state(server).timelines[chat_id]:
        entry.created -= EARLIER


def comment_as(server: TestServer, user: str, chat_id: str, text: str) -> None:
    state(server).add_comment(user, state(server).chats[chat_id], text)


def test_reads_back_chats_and_messages(devrev: DevRevProvider) -> None:
    provider: ReadBack = devrev

    assert isinstance(provider, ReadBack)
    assert provider.readback == {Capability.CREATE_CHAT, Capability.POST_MESSAGE}


async def test_find_chat_finds_the_dm_create_chat_made(devrev: DevRevProvider, server: TestServer) -> None:
    since = datetime.now(UTC)
    created = await devrev.create_chat("P0: checkout down", [TEST_USER_ID, GRACE])
    sent(server)

    found = await devrev.find_chat("P0: checkout down", (GRACE, TEST_USER_ID), since)
    by_display_id = await devrev.find_chat(None, ("DEVU-1", "DEVU-2"), since, get_if_conflict=True)

    assert found == by_display_id == created
    request = sent(server)[0]
    assert (request.method, request.path) == ("POST", "/chats.get")
    assert request.body == {"type": "dm", "users": [GRACE, TEST_USER_ID]}


async def test_find_chat_ignores_a_dm_made_before_since(devrev: DevRevProvider, server: TestServer) -> None:
    created = await devrev.create_chat("Ops", [TEST_USER_ID, GRACE])
    backdate(server, created.id)
    since = datetime.now(UTC)
    reopened = await devrev.create_chat("Ops", [TEST_USER_ID, GRACE], get_if_conflict=True)

    assert reopened.id == created.id
    assert await devrev.find_chat("Ops", (TEST_USER_ID, GRACE), since, get_if_conflict=True) is None


@pytest.mark.parametrize(
    ("name", "members"), [("Other", (TEST_USER_ID, GRACE)), ("Ops", (TEST_USER_ID, ALAN))]
)
async def test_find_chat_ignores_a_dm_with_another_title_or_other_users(
    devrev: DevRevProvider, name: str, members: tuple[str, ...]
) -> None:
    since = datetime.now(UTC)
    await devrev.create_chat("Ops", [TEST_USER_ID, GRACE])

    assert await devrev.find_chat(name, members, since) is None


@pytest.mark.parametrize(("asked", "answered"), [((GRACE,), (GRACE, ALAN)), ((GRACE, ALAN), (GRACE,))])
async def test_find_chat_checks_the_users_of_the_dm_devrev_answers(
    devrev: DevRevProvider, server: TestServer, asked: tuple[str, ...], answered: tuple[str, ...]
) -> None:
    since = datetime.now(UTC)
    await devrev.create_chat("Ops", [TEST_USER_ID, *asked])
    other = await devrev.create_chat("Ops", [TEST_USER_ID, *answered])
    answer = {"chat": state(server).chat_json(state(server).chats[other.id])}
    # DevRev finds the DM of the users asked for and answers, as scripted, the other DM
    server.app[FAULTS_KEY].scripted.append(ScriptedAnswer(200, body=answer, path="/chats.get"))

    assert await devrev.find_chat("Ops", (TEST_USER_ID, *asked), since) is None


async def test_find_chat_cannot_find_a_non_default_dm_and_refuses_unknown_options(
    devrev: DevRevProvider,
) -> None:
    since = datetime.now(UTC)
    with pytest.raises(Unsupported, match="only when it is their default DM"):
        await devrev.find_chat("Ops", (TEST_USER_ID, GRACE), since, is_default=False)
    with pytest.raises(InvalidRequest, match="find_chat: unknown options visibility"):
        await devrev.find_chat("Ops", (TEST_USER_ID, GRACE), since, visibility="private")


async def test_find_message_finds_the_comment_post_message_posted(
    devrev: DevRevProvider, server: TestServer
) -> None:
    chat = await devrev.create_chat("Ops", [TEST_USER_ID, GRACE])
    for number in range(60):
        comment_as(server, GRACE, chat.id, f"Update {number}")
    since = datetime.now(UTC)
    posted = await devrev.post_message(chat.id, "Checkout is down")
    sent(server)

    found = await devrev.find_message(chat.id, "Checkout is down", since)

    assert found == posted
    first, second = sent(server)
    assert (first.method, first.path, first.body) == ("POST", "/timeline-entries.list", {"object": chat.id})
    assert second.body == {"object": chat.id, "cursor": second.body["cursor"]}


async def test_find_message_ignores_other_text_and_older_comments(
    devrev: DevRevProvider, server: TestServer
) -> None:
    chat = await devrev.create_chat("Ops", [TEST_USER_ID, GRACE])
    await devrev.post_message(chat.id, "Checkout is down")
    backdate(server, chat.id)
    since = datetime.now(UTC)
    await devrev.post_message(chat.id, "Checkout is up")

    assert await devrev.find_message(chat.id, "Checkout is down", since) is None
    assert await devrev.find_message(chat.id, "Checkout is sideways", since) is None


async def test_find_message_takes_only_the_configured_users_comments(
    devrev: DevRevProvider, make_devrev: MakeProvider, server: TestServer
) -> None:
    chat = await devrev.create_chat("Ops", [TEST_USER_ID, GRACE])
    since = datetime.now(UTC)
    comment_as(server, GRACE, chat.id, "Checkout is down")

    assert await devrev.find_message(chat.id, "Checkout is down", since) is None
    anyone = await make_devrev().find_message(chat.id, "Checkout is down", since)
    assert anyone is not None and anyone.raw.created_by.id == GRACE


async def test_find_message_cannot_tell_past_max_items_entries(
    devrev: DevRevProvider, server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    chat = await devrev.create_chat("Ops", [TEST_USER_ID, GRACE])
    since = datetime.now(UTC)
    for number in range(MAX_ITEMS + 50):
        comment_as(server, GRACE, chat.id, f"Update {number}")
    await devrev.post_message(chat.id, "Checkout is down")
    sent(server)

    with (
        caplog.at_level(logging.WARNING, "chatwright.adapters.devrev"),
        pytest.raises(Unsupported, match=f"not among the first 200 timeline entries of {chat.id}"),
    ):
        await devrev.find_message(chat.id, "Checkout is down", since)

    assert len(sent(server)) == MAX_ITEMS // 50
    assert "find_message cannot tell whether the step took effect" in caplog.text
