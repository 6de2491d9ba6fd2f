"""The GroupAlarm unified API against its emulator: exactly the documented calls, errors and retries."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from adapters.groupalarm import (
    ADAPTER,
    Chatroom,
    GroupAlarmConfig,
    GroupAlarmProvider,
    SentMessage,
    build_provider,
)
from adapters.groupalarm.emulator import STATE_KEY, create_app
from adapters.groupalarm.emulator_state import (
    SEED_EVENT_ID,
    SEED_EVENT_ROOM_ID,
    TEST_API_TOKEN,
    TEST_PERSONAL_ACCESS_TOKEN,
    MessageReply,
    UpdateReply,
)
from framework.adapter_registry import EmulatorOptions
from framework.chats import Capability, ChatProvider
from framework.emulation import FAULTS_KEY, RecordedRequest, ScriptedAnswer
from framework.errors import (
    AuthError,
    Conflict,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unavailable,
    Unsupported,
)

MakeProvider = Callable[..., GroupAlarmProvider]


@pytest.fixture
async def app() -> web.Application:
    return create_app(EmulatorOptions(seed=1))


@pytest.fixture
async def server(aiohttp_server: AiohttpServer, app: web.Application) -> TestServer:
    return await aiohttp_server(app)


@pytest.fixture
async def make_provider(server: TestServer) -> AsyncIterator[MakeProvider]:
    made: list[GroupAlarmProvider] = []

    def make(**overrides: Any) -> GroupAlarmProvider:
        settings: dict[str, Any] = {
            "base_url": str(server.make_url("")),
            "api_token": TEST_API_TOKEN,
            "organization_id": 1,
            "retries": 1,
            **overrides,
        }
        provider = build_provider("ga", GroupAlarmConfig(**settings))
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()


def sent(app: web.Application) -> list[RecordedRequest]:
    return list(app[FAULTS_KEY].requests)


def forget_requests(app: web.Application) -> None:
    app[FAULTS_KEY].requests.clear()


def script(app: web.Application, status: int, *, retry_after: float | None = None) -> None:
    app[FAULTS_KEY].scripted.append(ScriptedAnswer(status, retry_after=retry_after))


def calls(app: web.Application) -> list[tuple[str, str]]:
    return [(request.method, request.path) for request in sent(app)]


async def test_the_adapter_spec_builds_a_chat_provider_without_list_messages(
    make_provider: MakeProvider,
) -> None:
    provider = make_provider()
    assert ADAPTER.provider == "groupalarm" and ADAPTER.config_type is GroupAlarmConfig
    assert ADAPTER.emulator is not None and ADAPTER.emulator(EmulatorOptions())[STATE_KEY] is not None
    assert ADAPTER.emulator_prefix == "/groupalarm"
    assert isinstance(provider, ChatProvider)
    assert provider.name == "ga"
    assert provider.capabilities == frozenset(Capability) - {Capability.LIST_MESSAGES}


async def test_create_chat_posts_exactly_the_documented_body(
    make_provider: MakeProvider, app: web.Application
) -> None:
    chat = await make_provider().create_chat("Night shift", ["11", 12, "11"])

    [request] = sent(app)
    assert (request.method, request.path, request.query) == ("POST", "/chatroom", {})
    assert request.body == {"assignedUsers": [11, 12], "name": "Night shift", "organizationID": 1}
    assert request.header("api-token") == TEST_API_TOKEN
    assert request.header("personal-access-token") is None
    assert request.header("content-type") == "application/json"
    assert chat.provider == "groupalarm"
    assert chat.id == str(chat.raw.id) and chat.name == "Night shift" and chat.members == ("11", "12")
    assert isinstance(chat.raw, Chatroom) and chat.raw.type == "custom" and chat.raw.organization_id == 1


async def test_create_chat_with_a_personal_token_and_another_organization(
    make_provider: MakeProvider, app: web.Application
) -> None:
    provider = make_provider(api_token=None, personal_access_token=TEST_PERSONAL_ACCESS_TOKEN)

    chat = await provider.create_chat("Logistics", [21], organization_id="2")

    [request] = sent(app)
    assert request.header("personal-access-token") == TEST_PERSONAL_ACCESS_TOKEN
    assert request.header("api-token") is None
    assert request.body == {"assignedUsers": [21], "name": "Logistics", "organizationID": 2}
    assert chat.raw.organization_id == 2


@pytest.mark.parametrize("reply", [UpdateReply.ROOM, UpdateReply.NO_CONTENT])
async def test_rename_chat_reads_the_room_then_puts_it_whole_with_the_new_name(
    make_provider: MakeProvider, app: web.Application, reply: UpdateReply
) -> None:
    provider = make_provider()
    chat = await provider.create_chat("Old", [11, 12])
    app[STATE_KEY].update_reply = reply
    forget_requests(app)

    renamed = await provider.rename_chat(int(chat.id), "New")

    assert calls(app) == [("GET", f"/chatroom/{chat.id}"), ("PUT", f"/chatroom/{chat.id}")]
    assert sent(app)[1].body == {"assignedUsers": [11, 12], "name": "New", "organizationID": 1}
    assert (renamed.id, renamed.name, renamed.members) == (chat.id, "New", ("11", "12"))
    assert (await provider.get_chat(chat.id)).name == "New"


@pytest.mark.parametrize("reply", [UpdateReply.ROOM, UpdateReply.NO_CONTENT])
async def test_set_members_replaces_assigned_users_and_keeps_the_name(
    make_provider: MakeProvider, app: web.Application, reply: UpdateReply
) -> None:
    provider = make_provider()
    chat = await provider.create_chat("Crew", [11, 12])
    app[STATE_KEY].update_reply = reply
    forget_requests(app)

    updated = await provider.set_members(chat.id, ["13", 7])

    assert calls(app) == [("GET", f"/chatroom/{chat.id}"), ("PUT", f"/chatroom/{chat.id}")]
    assert sent(app)[1].body == {"assignedUsers": [13, 7], "name": "Crew", "organizationID": 1}
    assert updated.members == ("13", "7") and updated.name == "Crew"


@pytest.mark.parametrize("reply", [MessageReply.NO_CONTENT, MessageReply.CREATED_EMPTY])
async def test_post_message_accepts_an_empty_answer(
    make_provider: MakeProvider, app: web.Application, reply: MessageReply
) -> None:
    app[STATE_KEY].message_reply = reply

    message = await make_provider().post_message(str(SEED_EVENT_ROOM_ID), "Vehicle 2 is out")

    [request] = sent(app)
    assert (request.method, request.path) == ("POST", f"/chatroom/{SEED_EVENT_ROOM_ID}/message")
    assert request.body == {"message": "Vehicle 2 is out"}
    assert message.id is None and message.raw is None
    assert (message.chat_id, message.text) == (str(SEED_EVENT_ROOM_ID), "Vehicle 2 is out")
    assert [stored.message for stored in app[STATE_KEY].messages] == ["Vehicle 2 is out"]


async def test_post_message_reads_a_message_answer_when_one_comes(
    make_provider: MakeProvider, app: web.Application
) -> None:
    app[STATE_KEY].message_reply = MessageReply.CREATED_WITH_BODY

    message = await make_provider().post_message(SEED_EVENT_ROOM_ID, "All clear")

    assert message.id == "1" and message.text == "All clear" and message.chat_id == str(SEED_EVENT_ROOM_ID)
    assert isinstance(message.raw, SentMessage)
    assert message.sent_at is not None and message.sent_at.tzinfo is not None


async def test_get_chat_parses_the_event_room_and_its_quirks(make_provider: MakeProvider) -> None:
    chat = await make_provider().get_chat(SEED_EVENT_ROOM_ID)

    room = chat.raw
    assert isinstance(room, Chatroom)
    assert (chat.id, room.type, room.event_id) == (str(SEED_EVENT_ROOM_ID), "event", SEED_EVENT_ID)
    # Go's RFC 3339 with nanoseconds and an offset, unknown fields (admins, moderators) ignored.
    assert room.scheduled_deletion == datetime(2030, 6, 1, 18, 0, 0, 123456, tzinfo=UTC)
    assert room.scheduled_deletion.utcoffset() == timedelta(hours=2)
    assert room.avatar_url is None


async def test_a_custom_rooms_go_zero_values_read_as_none(make_provider: MakeProvider) -> None:
    provider = make_provider()
    created = await provider.create_chat("Plain", [])

    room = (await provider.get_chat(created.id)).raw

    assert (room.event_id, room.avatar_url, room.scheduled_deletion) == (None, None, None)
    assert room.assigned_users == ()


async def test_list_chats_pages_with_limit_and_offset_until_total(
    make_provider: MakeProvider, app: web.Application
) -> None:
    provider = make_provider(page_size=2)
    for number in range(4):
        await provider.create_chat(f"Room {number}", [11])
    forget_requests(app)

    chats = [chat async for chat in provider.list_chats()]

    assert [chat.id for chat in chats] == ["1", "2", "3", "4", "5"]
    assert calls(app) == [("GET", "/chatrooms")] * 3
    assert [request.query for request in sent(app)] == [
        {"organization_id": "1", "limit": "2", "offset": "0"},
        {"organization_id": "1", "limit": "2", "offset": "2"},
        {"organization_id": "1", "limit": "2", "offset": "4"},
    ]


async def test_list_chats_sends_one_request_when_the_first_page_holds_everything(
    make_provider: MakeProvider, app: web.Application
) -> None:
    chats = [chat async for chat in make_provider().list_chats()]

    assert [chat.id for chat in chats] == [str(SEED_EVENT_ROOM_ID)]
    assert [request.query for request in sent(app)] == [
        {"organization_id": "1", "limit": "50", "offset": "0"}
    ]


async def test_delete_chat_removes_the_room_for_good(
    make_provider: MakeProvider, app: web.Application
) -> None:
    provider = make_provider()
    chat = await provider.create_chat("Temporary", [11])
    forget_requests(app)

    await provider.delete_chat(chat.id)

    assert calls(app) == [("DELETE", f"/chatroom/{chat.id}")]
    with pytest.raises(NotFound) as raised:
        await provider.get_chat(chat.id)
    assert raised.value.status == 404 and raised.value.message == f"chatroom {chat.id} not found"


async def test_list_messages_is_unsupported_and_sends_nothing(
    make_provider: MakeProvider, app: web.Application
) -> None:
    with pytest.raises(Unsupported) as raised:
        [message async for message in make_provider().list_messages("1")]

    assert raised.value.operation == "list_messages" and raised.value.provider == "groupalarm"
    assert sent(app) == []


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda p: p.get_chat("room-1"), "chat_id"),
        (lambda p: p.delete_chat(0), "chat_id"),
        (lambda p: p.post_message("1", "  "), "message"),
        (lambda p: p.rename_chat("1", ""), "name"),
        (lambda p: p.set_members("1", ["7", "anna"]), "members"),
        (lambda p: p.create_chat(None, [7]), "name"),
        (lambda p: p.create_chat("Team", "7"), "members"),
        (lambda p: p.create_chat("Team", [7], topic="x"), "topic"),
        (lambda p: p.create_chat("Team", [7], organization_id="acme"), "organization_id"),
    ],
)
async def test_invalid_unified_calls_fail_before_sending(
    make_provider: MakeProvider, app: web.Application, call: Any, field: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await call(make_provider())

    assert field in raised.value.field_errors
    assert sent(app) == []


async def test_a_wrong_token_is_an_auth_error_with_the_providers_message(make_provider: MakeProvider) -> None:
    with pytest.raises(AuthError) as raised:
        await make_provider(api_token="stale").get_chat(1)

    assert raised.value.status == 401 and raised.value.message == "invalid API-TOKEN"


async def test_another_organization_is_forbidden_for_an_organization_token(
    make_provider: MakeProvider,
) -> None:
    with pytest.raises(AuthError) as raised:
        await make_provider().create_chat("Elsewhere", [21], organization_id=2)

    assert raised.value.status == 403 and raised.value.message == "no permission for organization 2"


async def test_renaming_an_event_room_is_refused_as_invalid(make_provider: MakeProvider) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await make_provider().rename_chat(SEED_EVENT_ROOM_ID, "Mine now")

    assert raised.value.status == 400
    assert raised.value.message == "chatroom 1 has type 'event'; only custom chatrooms can be updated"


async def test_a_second_default_room_is_a_conflict(make_provider: MakeProvider) -> None:
    client = make_provider().client
    await client.create_default_chatroom(1)

    with pytest.raises(Conflict) as raised:
        await client.create_default_chatroom(1)

    assert raised.value.status == 409
    assert raised.value.message == "organization 1 already has a default chatroom"


async def test_a_server_error_is_unavailable_with_the_providers_message(
    make_provider: MakeProvider, app: web.Application
) -> None:
    script(app, 500)

    with pytest.raises(Unavailable) as raised:
        await make_provider().get_chat(1)

    assert raised.value.status == 500 and raised.value.message == "Scripted failure"
    assert raised.value.retryable


async def test_429_with_retry_after_is_waited_out_and_retried_even_for_a_message(
    make_provider: MakeProvider, app: web.Application
) -> None:
    script(app, 429, retry_after=1)
    started = time.monotonic()

    await make_provider(retries=2).post_message(1, "Retry me")

    assert time.monotonic() - started >= 0.9
    assert calls(app) == [("POST", "/chatroom/1/message")] * 2
    assert [stored.message for stored in app[STATE_KEY].messages] == ["Retry me"]


async def test_429_when_retries_run_out_says_how_long_to_wait(
    make_provider: MakeProvider, app: web.Application
) -> None:
    script(app, 429, retry_after=1)

    with pytest.raises(RateLimited) as raised:
        await make_provider(retries=1).get_chat(1)

    assert raised.value.retry_after == 1.0 and raised.value.status == 429


async def test_a_5xx_is_retried_for_reads_and_updates(
    make_provider: MakeProvider, app: web.Application
) -> None:
    provider = make_provider(retries=3)
    chat = await provider.create_chat("Retry", [11])
    forget_requests(app)
    script(app, 503)

    renamed = await provider.rename_chat(chat.id, "Retried")

    assert calls(app) == [("GET", f"/chatroom/{chat.id}")] * 2 + [("PUT", f"/chatroom/{chat.id}")]
    assert renamed.name == "Retried"
    forget_requests(app)
    script(app, 502)

    await provider.client.update_chatroom(int(chat.id), organization_id=1, name="Again", assigned_users=[11])

    assert calls(app) == [("PUT", f"/chatroom/{chat.id}")] * 2


@pytest.mark.parametrize(
    "call",
    [lambda p: p.post_message(1, "Only once"), lambda p: p.create_chat("Only once", [11])],
)
async def test_a_5xx_is_not_retried_for_calls_that_may_have_been_delivered(
    make_provider: MakeProvider, app: web.Application, call: Any
) -> None:
    script(app, 503)

    with pytest.raises(Unavailable):
        await call(make_provider(retries=3))

    assert len(sent(app)) == 1
    assert app[STATE_KEY].messages == []
