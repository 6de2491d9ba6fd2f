"""RoostedHR read-back on its emulator: find_chat and find_message find what was made since, only that."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from adapters.readback import MAX_ITEMS
from adapters.roostedhr import RoostedHRConfig, RoostedHRProvider, build_provider
from adapters.roostedhr.emulator import STATE_KEY, TEST_API_KEY, create_app
from adapters.roostedhr.emulator_state import RoostedState
from adapters.roostedhr.provider import READBACK_MAX_FETCHES, READBACK_PAGE_SIZE
from framework.adapter_registry import EmulatorOptions
from framework.chats import Capability, ReadBack
from framework.errors import InvalidRequest, Unsupported
from tests.adapters.emulator_helpers import sent

ME = "3158"
AARON, MARIA = "120915", "2041"
CHATS = f"/workers/{ME}/chats"
EARLIER = timedelta(minutes=5)


@pytest.fixture
async def server(aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(create_app(EmulatorOptions(seed=7)))


@pytest.fixture
async def roosted(server: TestServer) -> AsyncIterator[RoostedHRProvider]:
    config = RoostedHRConfig(base_url=str(server.make_url("")), api_key=TEST_API_KEY, worker_id=ME)
    provider = build_provider("roosted", config)
    yield provider
    await provider.close()


def state(server: TestServer) -> RoostedState:
    return server.app[STATE_KEY]


def backdate(server: TestServer, chat_id: str) -> None:
    """Make a chat and its messages look as if they were made before the step began."""
    chat = state(server).chats[chat_id]
    chat.created -= EARLIER
    for message in chat.messages:
        message.created -= EARLIER


def test_reads_back_chats_and_messages(roosted: RoostedHRProvider) -> None:
    provider: ReadBack = roosted

    assert isinstance(provider, ReadBack)
    assert provider.readback == {Capability.CREATE_CHAT, Capability.POST_MESSAGE}


async def test_find_chat_finds_the_chat_create_chat_made(
    roosted: RoostedHRProvider, server: TestServer
) -> None:
    since = datetime.now(UTC)
    created = await roosted.create_chat("Crew", [AARON, MARIA])
    sent(server)

    found = await roosted.find_chat("Crew", (AARON, MARIA), since)
    with_me = await roosted.find_chat("Crew", (MARIA, ME, AARON), since)

    assert found == with_me == created
    assert found is not None and found.members == (ME, AARON, MARIA)
    listed, fetched = sent(server)[:2]
    assert (listed.method, listed.path, listed.query) == (
        "GET",
        CHATS,
        {"search_term": "Crew", "limit": str(READBACK_PAGE_SIZE)},
    )
    assert (fetched.method, fetched.path) == ("GET", f"{CHATS}/{created.id}")


async def test_find_chat_without_a_name_matches_the_members(
    roosted: RoostedHRProvider, server: TestServer
) -> None:
    since = datetime.now(UTC)
    created = await roosted.create_chat(None, [AARON])
    sent(server)

    found = await roosted.find_chat(None, (AARON,), since)

    assert found == created and found is not None and found.name == "Chris Davis, Aaron Labrado"
    assert sent(server)[0].query == {"limit": str(READBACK_PAGE_SIZE)}


async def test_find_chat_ignores_chats_made_before_since_and_stops_at_the_first(
    roosted: RoostedHRProvider, server: TestServer
) -> None:
    since = datetime.now(UTC)
    for _ in range(READBACK_PAGE_SIZE + 1):
        backdate(server, state(server).create_chat(ME, [AARON], "Crew").id)
    sent(server)

    assert await roosted.find_chat("Crew", (AARON,), since) is None
    assert [(r.method, r.path) for r in sent(server)] == [("GET", CHATS)]


@pytest.mark.parametrize(("name", "members"), [("Other crew", (AARON,)), ("Crew", (MARIA,)), ("Crew", ())])
async def test_find_chat_ignores_a_chat_with_another_name_or_other_members(
    roosted: RoostedHRProvider, name: str, members: tuple[str, ...]
) -> None:
    since = datetime.now(UTC)
    await roosted.create_chat("Crew", [AARON])

    assert await roosted.find_chat(name, members, since) is None


async def test_find_chat_looks_past_an_older_chat_that_was_active_since(
    roosted: RoostedHRProvider, server: TestServer
) -> None:
    old = await roosted.create_chat("Crew", [AARON])
    backdate(server, old.id)
    since = datetime.now(UTC)
    created = await roosted.create_chat("Crew", [AARON])
    await roosted.post_message(old.id, "the old chat is busy")

    assert await roosted.find_chat("Crew", (AARON,), since) == created


async def test_find_chat_cannot_tell_past_max_items_list_items(
    roosted: RoostedHRProvider, server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    since = datetime.now(UTC)
    for number in range(MAX_ITEMS + 50):
        state(server).create_chat(ME, [AARON], f"Crew {number}")
    sent(server)

    with (
        caplog.at_level(logging.WARNING, "chatwright.adapters.roostedhr"),
        pytest.raises(Unsupported, match="not among the first 200 chats active since"),
    ):
        await roosted.find_chat("Crew", (AARON,), since)

    assert len(sent(server)) == MAX_ITEMS // READBACK_PAGE_SIZE
    assert "find_chat cannot tell whether the step took effect" in caplog.text


async def test_find_chat_cannot_tell_past_a_few_candidates(
    roosted: RoostedHRProvider, server: TestServer
) -> None:
    since = datetime.now(UTC)
    for _ in range(READBACK_MAX_FETCHES + 5):
        await roosted.create_chat("Crew", [MARIA])
    sent(server)

    with pytest.raises(Unsupported, match="none of the first 10 chats made since with that name"):
        await roosted.find_chat("Crew", (AARON,), since)

    fetches = [r for r in sent(server) if r.path != CHATS]
    assert len(fetches) == READBACK_MAX_FETCHES


async def test_find_chat_refuses_what_create_chat_refuses(roosted: RoostedHRProvider) -> None:
    with pytest.raises(InvalidRequest, match="unknown option"):
        await roosted.find_chat("Crew", (AARON,), datetime.now(UTC), auto_add=True)
    with pytest.raises(ValueError, match="timezone-aware"):
        await roosted.find_chat("Crew", (AARON,), datetime.now())


async def test_find_message_finds_the_message_post_message_posted(
    roosted: RoostedHRProvider, server: TestServer
) -> None:
    chat = await roosted.create_chat("Crew", [AARON])
    since = datetime.now(UTC)
    posted = await roosted.post_message(chat.id, "Shift starts at 8")
    await roosted.post_message(chat.id, "Bring boots")
    sent(server)

    found = await roosted.find_message(chat.id, "Shift starts at 8", since)

    assert found == posted
    [listed] = sent(server)
    assert (listed.method, listed.path) == ("GET", f"{CHATS}/{chat.id}/messages")
    assert listed.query == {"limit": str(READBACK_PAGE_SIZE)}


async def test_find_message_ignores_other_text_other_senders_and_older_messages(
    roosted: RoostedHRProvider, server: TestServer
) -> None:
    chat = await roosted.create_chat("Crew", [AARON])
    await roosted.post_message(chat.id, "Shift starts at 8")
    backdate(server, chat.id)
    since = datetime.now(UTC)
    await roosted.post_message(chat.id, "Shift starts at 9")
    state(server).add_message(state(server).chats[chat.id], AARON, "Shift starts at 8")

    assert await roosted.find_message(chat.id, "Shift starts at 8", since) is None
    assert await roosted.find_message(chat.id, "Shift starts at 10", since) is None


async def test_find_message_stops_at_the_first_message_older_than_since(
    roosted: RoostedHRProvider, server: TestServer
) -> None:
    chat = await roosted.create_chat("Crew", [AARON])
    stored = state(server).chats[chat.id]
    for number in range(READBACK_PAGE_SIZE + 1):
        state(server).add_message(stored, ME, f"Old news {number}")
    backdate(server, chat.id)
    sent(server)

    assert await roosted.find_message(chat.id, "Old news 0", datetime.now(UTC)) is None
    assert len(sent(server)) == 1


async def test_find_message_cannot_tell_past_max_items_messages(
    roosted: RoostedHRProvider, server: TestServer
) -> None:
    chat = await roosted.create_chat("Crew", [AARON])
    since = datetime.now(UTC)
    for number in range(MAX_ITEMS + 50):
        state(server).add_message(state(server).chats[chat.id], ME, f"News {number}")
    sent(server)

    with pytest.raises(Unsupported, match=f"not among the first 200 messages of chat {chat.id}"):
        await roosted.find_message(chat.id, "Shift starts at 8", since)

    assert len(sent(server)) == MAX_ITEMS // READBACK_PAGE_SIZE
