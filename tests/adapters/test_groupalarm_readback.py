"""GroupAlarm read-back on its emulator: custom chatrooms by name and members; messages cannot be read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from adapters.groupalarm import GroupAlarmConfig, GroupAlarmProvider, build_provider
from adapters.groupalarm.emulator import create_app
from adapters.groupalarm.emulator_state import TEST_API_TOKEN, TEST_PERSONAL_ACCESS_TOKEN
from framework.adapter_registry import EmulatorOptions
from framework.chats import Capability, ReadBack
from framework.errors import InvalidRequest, Unsupported
from tests.adapters.emulator_helpers import sent

MakeProvider = Callable[..., GroupAlarmProvider]


@pytest.fixture
async def server(aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(create_app(EmulatorOptions()))


@pytest.fixture
async def make_provider(server: TestServer) -> AsyncIterator[MakeProvider]:
    made: list[GroupAlarmProvider] = []

    def make(**overrides: Any) -> GroupAlarmProvider:
        settings = {"base_url": str(server.make_url("")), "organization_id": 1, **overrides}
        if "personal_access_token" not in settings:
            settings["api_token"] = TEST_API_TOKEN
        made.append(build_provider("ga", GroupAlarmConfig(**settings)))
        return made[-1]

    yield make
    for provider in made:
        await provider.close()


@pytest.fixture
def groupalarm(make_provider: MakeProvider) -> GroupAlarmProvider:
    return make_provider()


def test_reads_back_chats_but_not_messages(groupalarm: GroupAlarmProvider) -> None:
    provider: ReadBack = groupalarm

    assert isinstance(provider, ReadBack)
    assert provider.readback == {Capability.CREATE_CHAT}


async def test_find_chat_finds_the_custom_chatroom_create_chat_made(
    groupalarm: GroupAlarmProvider, server: TestServer
) -> None:
    since = datetime.now(UTC)
    created = await groupalarm.create_chat("Fire drill", ["11", 12])
    sent(server)

    found = await groupalarm.find_chat("Fire drill", ("12", "11"), since)

    assert found == created
    [request] = sent(server)
    assert (request.method, request.path) == ("GET", "/chatrooms")
    assert request.query == {"organization_id": "1", "all": "true"}


@pytest.mark.parametrize(
    ("name", "members"),
    [("Fire drill 2", ("11", "12")), ("Fire drill", ("11",)), ("Fire drill", ("11", "12", "13"))],
)
async def test_find_chat_ignores_a_chatroom_with_another_name_or_other_members(
    groupalarm: GroupAlarmProvider, name: str, members: tuple[str, ...]
) -> None:
    since = datetime.now(UTC)
    await groupalarm.create_chat("Fire drill", ["11", "12"])

    assert await groupalarm.find_chat(name, members, since) is None


async def test_find_chat_ignores_event_rooms_and_other_organizations(make_provider: MakeProvider) -> None:
    personal = make_provider(personal_access_token=TEST_PERSONAL_ACCESS_TOKEN)
    since = datetime.now(UTC)
    created = await personal.create_chat("Fire drill", ["7", "21"], organization_id=2)

    # the emulator's seeded event room of organization 1
    assert await personal.find_chat("Alarm: Fire Main Street", ("7", "11", "12"), since) is None
    assert await personal.find_chat("Fire drill", ("7", "21"), since) is None
    assert await personal.find_chat("Fire drill", ("7", "21"), since, organization_id=2) == created


async def test_find_chat_cannot_tell_when_a_chatroom_was_made_and_takes_the_newest(
    groupalarm: GroupAlarmProvider,
) -> None:
    await groupalarm.create_chat("Fire drill", ["11"])
    since = datetime.now(UTC)
    newer = await groupalarm.create_chat("Fire drill", ["11"])

    assert await groupalarm.find_chat("Fire drill", ("11",), since) == newer
    assert newer.created_at is None


async def test_find_chat_refuses_what_create_chat_refuses(groupalarm: GroupAlarmProvider) -> None:
    since = datetime.now(UTC)
    with pytest.raises(InvalidRequest, match="find_chat: a GroupAlarm chatroom needs a name"):
        await groupalarm.find_chat(None, ("11",), since)
    with pytest.raises(InvalidRequest, match="find_chat: unknown options"):
        await groupalarm.find_chat("Fire drill", ("11",), since, event_id=4711)
    with pytest.raises(ValueError, match="timezone-aware"):
        await groupalarm.find_chat("Fire drill", ("11",), datetime.now())


async def test_find_message_is_unsupported_and_sends_nothing(
    groupalarm: GroupAlarmProvider, server: TestServer
) -> None:
    room = await groupalarm.create_chat("Fire drill", ["11"])
    await groupalarm.post_message(room.id, "Drill at 10")
    sent(server)

    with pytest.raises(Unsupported, match="find_message is not supported by groupalarm"):
        await groupalarm.find_message(room.id, "Drill at 10", datetime.now(UTC))

    assert sent(server) == []
