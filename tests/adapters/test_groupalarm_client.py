"""The typed GroupAlarm client against its emulator: endpoints beyond the unified API, and validation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from adapters.groupalarm import GroupAlarmClient, Paths
from adapters.groupalarm.emulator import STATE_KEY, create_app
from adapters.groupalarm.emulator_state import (
    ORGANIZATION_MEMBERS,
    SEED_EVENT_ID,
    SEED_EVENT_ROOM_ID,
    TEST_API_TOKEN,
    TEST_PAT_USER_ID,
    TEST_PERSONAL_ACCESS_TOKEN,
)
from framework.adapter_registry import EmulatorOptions
from framework.emulation import FAULTS_KEY, RecordedRequest
from framework.errors import Conflict, InvalidRequest, NotFound
from framework.http import HttpSettings, RetryPolicy

MakeClient = Callable[..., GroupAlarmClient]


@pytest.fixture
async def app() -> web.Application:
    return create_app(EmulatorOptions())


@pytest.fixture
async def server(aiohttp_server: AiohttpServer, app: web.Application) -> TestServer:
    return await aiohttp_server(app)


@pytest.fixture
async def make_client(server: TestServer) -> AsyncIterator[MakeClient]:
    made: list[GroupAlarmClient] = []

    def make(**overrides: Any) -> GroupAlarmClient:
        settings: dict[str, Any] = {
            "base_url": str(server.make_url("")),
            "api_token": TEST_API_TOKEN,
            "settings": HttpSettings(retry=RetryPolicy(attempts=1)),
            **overrides,
        }
        client = GroupAlarmClient(**settings)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def sent(app: web.Application) -> list[RecordedRequest]:
    return list(app[FAULTS_KEY].requests)


async def test_the_chatroom_of_an_event_is_found_by_query(
    make_client: MakeClient, app: web.Application
) -> None:
    room = await make_client().get_event_chatroom(1, SEED_EVENT_ID)

    [request] = sent(app)
    assert (request.method, request.path) == ("GET", "/chatroom")
    assert request.query == {"organization_id": "1", "event_id": str(SEED_EVENT_ID)}
    assert (room.id, room.event_id, room.type) == (SEED_EVENT_ROOM_ID, SEED_EVENT_ID, "event")


async def test_an_event_without_a_room_is_not_found(make_client: MakeClient) -> None:
    with pytest.raises(NotFound) as raised:
        await make_client().get_event_chatroom(1, 99)
    assert raised.value.message == "no chatroom for event 99 in organization 1"


async def test_list_all_sends_all_true_and_no_paging(make_client: MakeClient, app: web.Application) -> None:
    client = make_client()
    for number in range(11):
        await client.create_chatroom(1, f"Room {number}", [11])
    app[FAULTS_KEY].requests.clear()

    page = await client.list_all_chatrooms(1)

    assert [request.query for request in sent(app)] == [{"organization_id": "1", "all": "true"}]
    assert len(page.entries) == page.total == 12


async def test_one_page_reports_the_total_over_all_pages(make_client: MakeClient) -> None:
    client = make_client()
    for number in range(3):
        await client.create_chatroom(1, f"Room {number}", [11])

    page = await client.list_chatrooms(1, limit=2, offset=2)

    assert [room.name for room in page.entries] == ["Room 1", "Room 2"] and page.total == 4


async def test_a_personal_token_lists_its_users_rooms_without_an_organization(
    make_client: MakeClient, app: web.Application
) -> None:
    client = make_client(api_token=None, personal_access_token=TEST_PERSONAL_ACCESS_TOKEN)
    await client.create_chatroom(2, "Mine", [TEST_PAT_USER_ID])
    await client.create_chatroom(2, "Not mine", [21])

    page = await client.list_chatrooms()

    assert sent(app)[-1].query == {"limit": "10", "offset": "0"}
    assert [room.name for room in page.entries] == ["Alarm: Fire Main Street", "Mine"]


@pytest.mark.parametrize(
    ("limit", "offset", "field"), [(0, 0, "limit"), (51, 0, "limit"), (10, -1, "offset")]
)
async def test_paging_is_checked_before_sending(
    make_client: MakeClient, app: web.Application, limit: int, offset: int, field: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await make_client().list_chatrooms(1, limit=limit, offset=offset)

    assert list(raised.value.field_errors) == [field]
    assert sent(app) == []


async def test_the_default_room_is_created_once_and_removed(
    make_client: MakeClient, app: web.Application
) -> None:
    client = make_client()

    room = await client.create_default_chatroom(1)
    with pytest.raises(Conflict):
        await client.create_default_chatroom(1)
    await client.remove_default_chatroom(1)
    with pytest.raises(NotFound):
        await client.remove_default_chatroom(1)

    assert room.type == "default" and room.assigned_users == ORGANIZATION_MEMBERS[1]
    assert [(request.method, request.path) for request in sent(app)] == [
        ("POST", "/chatroom/default/1"),
        ("POST", "/chatroom/default/1"),
        ("DELETE", "/chatroom/default/1"),
        ("DELETE", "/chatroom/default/1"),
    ]
    assert sent(app)[0].body is None


async def test_the_avatar_is_uploaded_raw_and_removed_with_an_empty_body(
    make_client: MakeClient, app: web.Application
) -> None:
    client = make_client()
    room = await client.create_chatroom(1, "With face", [11])
    image = b"\x89PNG\r\n\x1a\nfake"

    await client.set_avatar(room.id, image, content_type="image/png")
    assert app[STATE_KEY].rooms[room.id].avatar == image
    assert (await client.get_chatroom(room.id)).avatar_url == (
        f"https://storage.groupalarm.example/chat/avatars/{room.id}-1.png"
    )
    await client.remove_avatar(room.id)

    set_request, _, remove_request = sent(app)[1:]
    assert (set_request.method, set_request.path) == ("PUT", f"/chatroom/{room.id}/avatar")
    assert set_request.header("content-type") == "image/png"
    assert remove_request.header("content-length") == "0" and remove_request.path == set_request.path
    assert app[STATE_KEY].rooms[room.id].avatar is None
    assert (await client.get_chatroom(room.id)).avatar_url is None


async def test_room_bodies_are_checked_before_sending(make_client: MakeClient, app: web.Application) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await make_client().create_chatroom("1", " ", [11, "12", True])  # type: ignore[arg-type, list-item]

    assert sorted(raised.value.field_errors) == ["assignedUsers", "name", "organizationID"]
    assert len(raised.value.field_errors["assignedUsers"]) == 2
    assert sent(app) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_chatroom(0),
        lambda c: c.send_message(-3, "hi"),
        lambda c: c.send_message(1, ""),
        lambda c: c.get_event_chatroom(1, None),
        lambda c: c.create_default_chatroom(True),
        lambda c: c.set_avatar(1, "not bytes"),
        lambda c: c.update_chatroom(1, organization_id=1, name="x", assigned_users=None),
    ],
)
async def test_ids_and_texts_are_checked_before_sending(
    make_client: MakeClient, app: web.Application, call: Any
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await call(make_client())

    assert raised.value.field_errors and raised.value.provider == "groupalarm"
    assert sent(app) == []


async def test_overridden_paths_are_used(make_client: MakeClient, app: web.Application) -> None:
    client = make_client(paths=Paths(send_message="/rooms/{roomID}/posts"))

    with pytest.raises(NotFound):
        await client.send_message(1, "hello")

    assert sent(app)[0].path == "/rooms/1/posts"


def test_exactly_one_credential_is_required() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        GroupAlarmClient(api_token="a", personal_access_token="b")
    with pytest.raises(ValueError, match="exactly one"):
        GroupAlarmClient()
