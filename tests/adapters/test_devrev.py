"""The DevRev adapter's unified API on its emulator: exact requests, error mapping, retries, Unsupported."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import cattrs
import pytest
from aiohttp.test_utils import TestServer

from adapters.devrev import ADAPTER, DevRevChat, DevRevConfig, DevRevProvider
from adapters.devrev.emulator import STATE_KEY, TEST_TOKEN, TEST_USER_ID, create_app
from adapters.devrev.emulator_state import DevRevState
from adapters.devrev.models import TimelineEntry
from adapters.devrev.provider import build_provider
from framework.adapter_registry import EmulatorOptions
from framework.chats import Capability, ChatProvider
from framework.emulation import FAULTS_KEY, RecordedRequest, ScriptedAnswer
from framework.errors import (
    AuthError,
    ConfigError,
    Conflict,
    InvalidRequest,
    NotFound,
    ProviderError,
    RateLimited,
    Unavailable,
    Unsupported,
)

GRACE = "don:identity:dvrv-us-1:devo/0:devu/2"
ALAN = "don:identity:dvrv-us-1:devo/0:devu/3"

ServerFactory = Callable[..., Awaitable[TestServer]]
ProviderFactory = Callable[..., DevRevProvider]


@pytest.fixture
async def server(aiohttp_server: ServerFactory) -> TestServer:
    return await aiohttp_server(create_app(EmulatorOptions()))


@pytest.fixture
async def make_devrev(server: TestServer) -> AsyncIterator[ProviderFactory]:
    built: list[DevRevProvider] = []

    def make(**config: Any) -> DevRevProvider:
        settings: dict[str, Any] = {"base_url": str(server.make_url("")), "token": TEST_TOKEN, "retries": 3}
        provider = build_provider("dr", DevRevConfig(**{**settings, **config}))
        built.append(provider)
        return provider

    yield make
    for provider in built:
        await provider.close()


@pytest.fixture
def devrev(make_devrev: ProviderFactory) -> DevRevProvider:
    return make_devrev()


def sent(server: TestServer) -> list[RecordedRequest]:
    return server.app[FAULTS_KEY].requests


def state(server: TestServer) -> DevRevState:
    return server.app[STATE_KEY]


def script(
    server: TestServer, status: int, *, path: str | None = None, retry_after: float | None = None
) -> None:
    server.app[FAULTS_KEY].scripted.append(ScriptedAnswer(status=status, path=path, retry_after=retry_after))


async def new_chat(devrev: DevRevProvider, server: TestServer, *members: str) -> str:
    chat = await devrev.create_chat("Ops", [TEST_USER_ID, *(members or (GRACE,))])
    sent(server).clear()
    return chat.id


# --- the spec and the config ------------------------------------------------------------------


def test_adapter_spec_builds_a_chat_provider_named_as_configured() -> None:
    config = cattrs.Converter().structure({"provider": "devrev", "token": "secret-pat"}, DevRevConfig)
    provider = ADAPTER.build("support", config)
    assert ADAPTER.provider == "devrev" and ADAPTER.config_type is DevRevConfig
    assert ADAPTER.emulator is not None and ADAPTER.emulator(EmulatorOptions())[STATE_KEY] is not None
    assert ADAPTER.emulator_prefix == "/devrev" and ADAPTER.emulator_settings == {"token": TEST_TOKEN}
    assert config.base_url == "https://api.devrev.ai"
    assert isinstance(provider, ChatProvider) and provider.name == "support"
    assert "secret-pat" not in repr(config)


def test_empty_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"adapters\.support\.token"):
        ADAPTER.build("support", DevRevConfig(token=""))


def test_capabilities_leave_out_list_chats_and_delete_chat(devrev: DevRevProvider) -> None:
    assert devrev.capabilities == frozenset(Capability) - {Capability.LIST_CHATS, Capability.DELETE_CHAT}


async def test_list_chats_and_delete_chat_are_unsupported_and_send_nothing(
    devrev: DevRevProvider, server: TestServer
) -> None:
    with pytest.raises(Unsupported) as listing:
        devrev.list_chats()
    with pytest.raises(Unsupported) as deleting:
        await devrev.delete_chat("don:core:dvrv-us-1:devo/0:dm/1")
    assert (listing.value.operation, deleting.value.operation) == ("list_chats", "delete_chat")
    assert listing.value.provider == "devrev"
    assert sent(server) == []


# --- create_chat ------------------------------------------------------------------------------


async def test_create_chat_sends_the_documented_request(devrev: DevRevProvider, server: TestServer) -> None:
    chat = await devrev.create_chat("Incident 42", [TEST_USER_ID, GRACE])

    [request] = sent(server)
    assert (request.method, request.path) == ("POST", "/chats.create")
    assert request.headers["Authorization"] == f"Bearer {TEST_TOKEN}"
    assert "X-Devrev-Version" not in request.headers
    assert request.body == {"type": "dm", "users": [TEST_USER_ID, GRACE], "title": "Incident 42"}
    assert chat.provider == "devrev"
    assert chat.id.startswith("don:core:dvrv-us-1:devo/0:dm/")
    assert (chat.name, chat.members) == ("Incident 42", (TEST_USER_ID, GRACE))
    assert chat.created_at is not None and chat.created_at.tzinfo is not None
    assert isinstance(chat.raw, DevRevChat) and chat.raw.display_id and chat.raw.created_by is not None


async def test_create_chat_without_name_omits_title_and_passes_options(
    devrev: DevRevProvider, server: TestServer
) -> None:
    record = "don:core:dvrv-us-1:devo/0:issue/7"
    chat = await devrev.create_chat(
        None, [TEST_USER_ID, GRACE], get_if_conflict=True, is_default=False, records=[record]
    )

    assert sent(server)[0].body == {
        "type": "dm",
        "users": [TEST_USER_ID, GRACE],
        "get_if_conflict": True,
        "is_default": False,
        "records": [record],
    }
    assert chat.name is None


@pytest.mark.parametrize("count", [0, 17])
async def test_create_chat_checks_1_to_16_users_before_sending(
    devrev: DevRevProvider, server: TestServer, count: int
) -> None:
    users = [f"don:identity:dvrv-us-1:devo/0:devu/{n}" for n in range(1, count + 1)]
    with pytest.raises(InvalidRequest) as error:
        await devrev.create_chat("Too many", users)
    assert "users" in error.value.field_errors
    assert sent(server) == []


async def test_create_chat_refuses_unknown_options_before_sending(
    devrev: DevRevProvider, server: TestServer
) -> None:
    with pytest.raises(InvalidRequest) as error:
        await devrev.create_chat("Ops", [TEST_USER_ID], colour="blue")
    assert list(error.value.field_errors) == ["colour"]
    assert sent(server) == []


async def test_a_second_default_dm_is_a_conflict_unless_get_if_conflict(devrev: DevRevProvider) -> None:
    first = await devrev.create_chat("Ops", [TEST_USER_ID, GRACE])

    with pytest.raises(Conflict) as error:
        await devrev.create_chat("Ops again", [GRACE, TEST_USER_ID])
    assert (error.value.status, error.value.code) == (409, "conflict")
    assert error.value.message == "a default DM already exists for these users"

    again = await devrev.create_chat("Ops again", [GRACE, TEST_USER_ID], get_if_conflict=True)
    assert again.id == first.id


async def test_create_with_get_if_conflict_is_retried_after_a_5xx(
    devrev: DevRevProvider, server: TestServer
) -> None:
    script(server, 503, path="/chats.create")
    chat = await devrev.create_chat("Ops", [TEST_USER_ID, GRACE], get_if_conflict=True)
    assert [r.path for r in sent(server)] == ["/chats.create", "/chats.create"]
    assert chat.members == (TEST_USER_ID, GRACE)


async def test_plain_create_is_not_retried_after_a_5xx(devrev: DevRevProvider, server: TestServer) -> None:
    script(server, 503, path="/chats.create")
    with pytest.raises(Unavailable):
        await devrev.create_chat("Ops", [TEST_USER_ID, GRACE])
    assert len(sent(server)) == 1


async def test_create_without_the_caller_is_forbidden(devrev: DevRevProvider) -> None:
    with pytest.raises(AuthError) as error:
        await devrev.create_chat("Not mine", [GRACE, ALAN])
    assert (error.value.status, error.value.code) == (403, "forbidden")
    assert error.value.message == "the authenticated user must be included in users"


# --- rename_chat, set_members, get_chat --------------------------------------------------------


async def test_rename_chat_updates_the_title(devrev: DevRevProvider, server: TestServer) -> None:
    chat_id = await new_chat(devrev, server)
    chat = await devrev.rename_chat(chat_id, "Renamed")

    [request] = sent(server)
    assert (request.method, request.path, request.body) == (
        "POST",
        "/chats.update",
        {"id": chat_id, "title": "Renamed"},
    )
    assert (chat.id, chat.name) == (chat_id, "Renamed")
    assert (await devrev.get_chat(chat_id)).name == "Renamed"


async def test_set_members_replaces_the_users(devrev: DevRevProvider, server: TestServer) -> None:
    chat_id = await new_chat(devrev, server)
    chat = await devrev.set_members(chat_id, [TEST_USER_ID, ALAN])

    assert sent(server)[0].body == {"id": chat_id, "users": {"set": [TEST_USER_ID, ALAN]}}
    assert chat.members == (TEST_USER_ID, ALAN)


async def test_set_members_with_an_unknown_user_names_the_field(
    devrev: DevRevProvider, server: TestServer
) -> None:
    chat_id = await new_chat(devrev, server)
    with pytest.raises(InvalidRequest) as error:
        await devrev.set_members(chat_id, [TEST_USER_ID, 7])

    assert sent(server)[0].body == {"id": chat_id, "users": {"set": [TEST_USER_ID, "7"]}}
    assert (error.value.status, error.value.code) == (400, "invalid_field")
    assert list(error.value.field_errors) == ["users"]


async def test_rename_is_retried_after_a_5xx(devrev: DevRevProvider, server: TestServer) -> None:
    chat_id = await new_chat(devrev, server)
    script(server, 500)
    chat = await devrev.rename_chat(chat_id, "After retry")
    assert [r.path for r in sent(server)] == ["/chats.update", "/chats.update"]
    assert chat.name == "After retry"


async def test_get_chat_reads_it_by_id(devrev: DevRevProvider, server: TestServer) -> None:
    created = await devrev.create_chat("Ops", [TEST_USER_ID, GRACE])
    sent(server).clear()
    chat = await devrev.get_chat(created.id)

    [request] = sent(server)
    assert (request.method, request.path, request.query) == ("GET", "/chats.get", {"id": created.id})
    assert chat == created


async def test_get_chat_of_an_unknown_id_is_not_found(devrev: DevRevProvider) -> None:
    missing = "don:core:dvrv-us-1:devo/0:dm/999"
    with pytest.raises(NotFound) as error:
        await devrev.get_chat(missing)
    assert (error.value.status, error.value.code) == (404, "not_found")
    assert error.value.message == f"chat {missing} not found"


# --- post_message, list_messages ---------------------------------------------------------------


async def test_post_message_creates_a_timeline_comment(devrev: DevRevProvider, server: TestServer) -> None:
    chat_id = await new_chat(devrev, server)
    message = await devrev.post_message(chat_id, "Deploy done")

    [request] = sent(server)
    assert (request.method, request.path) == ("POST", "/timeline-entries.create")
    assert request.body == {
        "type": "timeline_comment",
        "object": chat_id,
        "body": "Deploy done",
        "body_type": "text",
    }
    assert (message.provider, message.chat_id, message.text) == ("devrev", chat_id, "Deploy done")
    assert message.id is not None and message.id.startswith("don:core:dvrv-us-1:devo/0:comment/")
    assert message.sent_at is not None and isinstance(message.raw, TimelineEntry)


async def test_post_message_is_not_retried_after_a_5xx(devrev: DevRevProvider, server: TestServer) -> None:
    chat_id = await new_chat(devrev, server)
    script(server, 503)
    with pytest.raises(Unavailable):
        await devrev.post_message(chat_id, "Maybe delivered")
    assert len(sent(server)) == 1


async def test_post_message_waits_out_a_429_and_posts_once(
    devrev: DevRevProvider, server: TestServer
) -> None:
    chat_id = await new_chat(devrev, server)
    script(server, 429, retry_after=1)
    started = time.monotonic()
    message = await devrev.post_message(chat_id, "Throttled once")

    assert time.monotonic() - started >= 0.9
    assert [r.path for r in sent(server)] == ["/timeline-entries.create"] * 2
    assert [e.body for e in state(server).timelines[chat_id]] == ["Throttled once"]
    assert message.text == "Throttled once"


async def test_an_empty_2xx_answer_is_accepted(devrev: DevRevProvider, server: TestServer) -> None:
    chat_id = await new_chat(devrev, server)
    script(server, 201, path="/timeline-entries.create")
    script(server, 200, path="/chats.update")

    message = await devrev.post_message(chat_id, "No body back")
    chat = await devrev.rename_chat(chat_id, "Quiet")

    assert (message.chat_id, message.id, message.text, message.raw) == (chat_id, None, "No body back", None)
    assert (chat.id, chat.name) == (chat_id, "Quiet")


async def test_list_messages_follows_next_cursor_to_the_last_page(
    devrev: DevRevProvider, server: TestServer
) -> None:
    chat_id = await new_chat(devrev, server)
    world = state(server)
    for n in range(120):
        world.add_comment(TEST_USER_ID, world.chats[chat_id], f"m{n}")

    messages = [message async for message in devrev.list_messages(chat_id)]

    assert [m.text for m in messages] == [f"m{n}" for n in range(120)]
    assert all(m.chat_id == chat_id and m.id for m in messages)
    bodies = [r.body for r in sent(server)]
    assert [r.path for r in sent(server)] == ["/timeline-entries.list"] * 3
    assert bodies[0] == {"object": chat_id}
    assert set(bodies[1]) == set(bodies[2]) == {"object", "cursor"}
    assert bodies[1]["cursor"] != bodies[2]["cursor"]


async def test_list_messages_sends_the_configured_page_size(
    make_devrev: ProviderFactory, server: TestServer
) -> None:
    devrev = make_devrev(page_size=2)
    chat_id = await new_chat(devrev, server)
    for text in ("a", "b", "c"):
        await devrev.post_message(chat_id, text)
    sent(server).clear()

    assert [m.text async for m in devrev.list_messages(chat_id)] == ["a", "b", "c"]
    assert [r.body.get("limit") for r in sent(server)] == [2, 2]


# --- errors and headers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [
        (400, InvalidRequest, "bad_request"),
        (401, AuthError, "unauthenticated"),
        (403, AuthError, "forbidden"),
        (404, NotFound, "not_found"),
        (409, Conflict, "conflict"),
        (429, RateLimited, "too_many_requests"),
        (500, Unavailable, "internal_error"),
        (503, Unavailable, "service_unavailable"),
    ],
)
async def test_each_error_status_maps_to_its_error_with_the_message_kept(
    make_devrev: ProviderFactory,
    server: TestServer,
    status: int,
    error_type: type[ProviderError],
    code: str,
) -> None:
    devrev = make_devrev(retries=1)
    script(server, status, retry_after=3)
    with pytest.raises(error_type) as error:
        await devrev.post_message("don:core:dvrv-us-1:devo/0:dm/1", "hello")

    assert (error.value.status, error.value.code, error.value.message) == (status, code, "Scripted failure")
    assert error.value.provider == "devrev"
    if status == 429:
        assert error.value.retry_after == 3
    if status == 500:
        assert error.value.body["reference_id"]


async def test_a_bad_token_is_an_auth_error(make_devrev: ProviderFactory) -> None:
    devrev = make_devrev(token="wrong")
    with pytest.raises(AuthError) as error:
        await devrev.get_chat("don:core:dvrv-us-1:devo/0:dm/1")
    assert (error.value.status, error.value.code) == (401, "unauthenticated")
    assert error.value.message == "Authentication token is missing or invalid"


async def test_api_version_is_sent_when_configured(make_devrev: ProviderFactory, server: TestServer) -> None:
    devrev = make_devrev(api_version="2024-01-01")
    await devrev.create_chat("Ops", [TEST_USER_ID])
    assert sent(server)[0].headers["X-Devrev-Version"] == "2024-01-01"
