"""Popsell read-back on its emulator: the chatroom of the same pair and the sender's message, made since."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from adapters.popsell import ADAPTER, PopsellConfig, PopsellProvider
from adapters.popsell.emulator import PAGE_SIZE, STATE_KEY, TEST_API_KEY, EmulatorState, create_app
from adapters.popsell.emulator_state import date_insert_text
from adapters.popsell.models import parse_datetime
from adapters.readback import MAX_ITEMS
from framework.adapter_registry import EmulatorOptions
from framework.chats import Capability, ReadBack
from framework.emulation import FAULTS_KEY
from framework.errors import InvalidRequest, Unsupported

SENDER, CUSTOMER, OTHER = 1, 2, 3
EARLIER = timedelta(minutes=5)


@pytest.fixture
async def server(aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(create_app(EmulatorOptions()))


@pytest.fixture
async def popsell(server: TestServer) -> AsyncIterator[PopsellProvider]:
    config = PopsellConfig(
        provider="popsell",
        base_url=str(server.make_url("")),
        domain="shop.popsell.test",
        api_key=TEST_API_KEY,
        brand_id=3,
        sender_ambassador_id=SENDER,
    )
    provider = ADAPTER.build("shop", config)
    assert isinstance(provider, PopsellProvider)
    yield provider
    await provider.close()


def state(server: TestServer) -> EmulatorState:
    return server.app[STATE_KEY]


def pages_read(server: TestServer) -> list[tuple[str, dict[str, str]]]:
    """The provider calls that reached the emulator since the last call (token fetches left out)."""
    requests = server.app[FAULTS_KEY].requests
    calls = [(r.path, r.query) for r in requests if r.path != "/auth/token"]
    requests.clear()
    return calls


def backdate(server: TestServer, chatroom_id: str) -> None:
    """Make a chatroom and its messages look as if they were made before the step began."""
    room = state(server).rooms[int(chatroom_id)]
    room.date_insert -= EARLIER
    for message in room.messages:
        message["date_insert"] = date_insert_text(parse_datetime(message["date_insert"]) - EARLIER)


async def old_chatrooms(popsell: PopsellProvider, server: TestServer, count: int) -> None:
    for _ in range(count):
        backdate(server, (await popsell.create_chat(None, [CUSTOMER, OTHER])).id)


def test_reads_back_chatrooms_and_messages(popsell: PopsellProvider) -> None:
    provider: ReadBack = popsell

    assert isinstance(provider, ReadBack)
    assert provider.readback == {Capability.CREATE_CHAT, Capability.POST_MESSAGE}


async def test_find_chat_finds_the_chatroom_of_the_same_pair(
    popsell: PopsellProvider, server: TestServer
) -> None:
    since = datetime.now(UTC)
    created = await popsell.create_chat(None, [CUSTOMER, SENDER], source=1)
    pages_read(server)

    found = await popsell.find_chat(
        "ignored, as by create_chat", (str(SENDER), str(CUSTOMER)), since, source=1
    )

    assert found == created and found is not None and found.created_at is not None
    # the customer's chatrooms, not the sender's: the sender, the bot's own ambassador, has them all
    assert pages_read(server) == [(f"/chat/ambassadors/{CUSTOMER}/chatrooms", {"page": "1"})]


async def test_find_chat_reads_the_last_page_then_back_until_a_page_older_than_since(
    popsell: PopsellProvider, server: TestServer
) -> None:
    await old_chatrooms(popsell, server, 3 * PAGE_SIZE)
    since = datetime.now(UTC)
    created = await popsell.create_chat(None, [SENDER, CUSTOMER])
    pages_read(server)

    assert await popsell.find_chat(None, (SENDER, CUSTOMER), since) == created
    assert await popsell.find_chat(None, (SENDER, CUSTOMER), since, source=2) is None
    path = f"/chat/ambassadors/{CUSTOMER}/chatrooms"
    # 46 chatrooms: pages 1 to 3 were made before since, page 4 holds the new one alone
    assert pages_read(server) == [(path, {"page": page}) for page in ("1", "4", "1", "4", "3")]


async def test_find_chat_ignores_a_chatroom_made_before_since(
    popsell: PopsellProvider, server: TestServer
) -> None:
    since = datetime.now(UTC)
    created = await popsell.create_chat(None, [SENDER, CUSTOMER])
    backdate(server, created.id)

    assert await popsell.find_chat(None, (SENDER, CUSTOMER), since) is None


@pytest.mark.parametrize(
    ("members", "options"),
    [((SENDER, OTHER), {}), ((CUSTOMER, OTHER), {}), ((SENDER, CUSTOMER), {"source": 2})],
)
async def test_find_chat_ignores_a_chatroom_of_another_pair_or_source(
    popsell: PopsellProvider, members: tuple[int, int], options: dict[str, Any]
) -> None:
    since = datetime.now(UTC)
    await popsell.create_chat(None, [SENDER, CUSTOMER])

    assert await popsell.find_chat(None, members, since, **options) is None


async def test_find_chat_ignores_a_brand_tag_chatroom_of_the_same_ambassadors(
    popsell: PopsellProvider,
) -> None:
    since = datetime.now(UTC)
    tagged = await popsell.create_chat(None, [], id_brand_tag=1)

    assert set(tagged.members) == {str(CUSTOMER), str(OTHER)}
    assert await popsell.find_chat(None, (CUSTOMER, OTHER), since) is None


async def test_find_chat_cannot_read_back_a_brand_tag_chatroom_and_refuses_bad_arguments(
    popsell: PopsellProvider,
) -> None:
    since = datetime.now(UTC)
    with pytest.raises(Unsupported, match="which brand tag"):
        await popsell.find_chat(None, (), since, id_brand_tag=1)
    with pytest.raises(InvalidRequest, match="exactly two ambassadors"):
        await popsell.find_chat(None, (SENDER, CUSTOMER, OTHER), since)
    with pytest.raises(InvalidRequest, match="unknown option"):
        await popsell.find_chat(None, (SENDER, CUSTOMER), since, title="x")


async def test_find_message_finds_the_message_post_message_posted(
    popsell: PopsellProvider, server: TestServer
) -> None:
    chat = await popsell.create_chat(None, [SENDER, CUSTOMER])
    for number in range(PAGE_SIZE + 1):
        await popsell.client.post_message(int(chat.id), id_ambassador=CUSTOMER, content=f"Question {number}")
    backdate(server, chat.id)
    since = datetime.now(UTC)
    posted = await popsell.post_message(chat.id, "Welcome!")
    pages_read(server)

    found = await popsell.find_message(chat.id, "Welcome!", since)

    assert found == posted and found is not None and found.sent_at is not None
    path = f"/chat/chatrooms/{chat.id}/messages"
    assert pages_read(server) == [(path, {"page": "1"}), (path, {"page": "2"})]


async def test_find_message_ignores_other_text_senders_and_types_and_older_messages(
    popsell: PopsellProvider, server: TestServer
) -> None:
    chat = await popsell.create_chat(None, [SENDER, CUSTOMER])
    await popsell.post_message(chat.id, "Welcome!")
    backdate(server, chat.id)
    since = datetime.now(UTC)
    await popsell.post_message(chat.id, "Welcome back!")
    await popsell.client.post_message(int(chat.id), id_ambassador=CUSTOMER, content="Welcome!")
    await popsell.client.post_message(int(chat.id), id_ambassador=SENDER, content="Welcome!", type_message=1)

    assert await popsell.find_message(chat.id, "Welcome!", since) is None
    assert await popsell.find_message(chat.id, "Hello!", since) is None


async def test_find_message_cannot_tell_past_max_items(
    popsell: PopsellProvider, server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    chat = await popsell.create_chat(None, [SENDER, CUSTOMER])
    since = datetime.now(UTC)
    for number in range(MAX_ITEMS + 50):
        await popsell.client.post_message(int(chat.id), id_ambassador=CUSTOMER, content=f"Question {number}")
    pages_read(server)

    with (
        caplog.at_level(logging.WARNING, "chatwright.adapters.popsell"),
        pytest.raises(Unsupported, match=f"items read of the messages of chatroom {chat.id}"),
    ):
        await popsell.find_message(chat.id, "Welcome!", since)

    assert len(pages_read(server)) == -(-MAX_ITEMS // PAGE_SIZE)
    assert "find_message cannot tell whether the step took effect" in caplog.text
