"""The RoostedHR adapter against its emulator: unified API and client send exactly the documented calls."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import cattrs
import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from adapters.roostedhr import (
    ADAPTER,
    RoostedChat,
    RoostedHRConfig,
    RoostedHRProvider,
    RoostedMessage,
    build_provider,
)
from adapters.roostedhr.emulator import READ_ONLY_API_KEY, STATE_KEY, TEST_API_KEY, create_app
from adapters.roostedhr.emulator_state import RoostedState
from framework.adapter_registry import EmulatorOptions
from framework.chats import Capability, ChatProvider
from framework.emulation import FAULTS_KEY, ScriptedAnswer
from framework.errors import (
    AuthError,
    ConfigError,
    InvalidRequest,
    NotFound,
    ProviderError,
    RateLimited,
    Unavailable,
    Unsupported,
)
from tests.adapters.emulator_helpers import sent

ME = "3158"


@pytest.fixture
async def server(aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(create_app(EmulatorOptions(seed=7)))


def make_provider(server: TestServer, **overrides: Any) -> RoostedHRProvider:
    settings: dict[str, Any] = {
        "base_url": str(server.make_url("")),
        "api_key": TEST_API_KEY,
        "worker_id": int(ME),
        "retries": 3,
        **overrides,
    }
    return build_provider("roosted", RoostedHRConfig(**settings))


@pytest.fixture
async def provider(server: TestServer) -> AsyncIterator[RoostedHRProvider]:
    chats = make_provider(server)
    yield chats
    await chats.close()


def state_of(server: TestServer) -> RoostedState:
    return server.app[STATE_KEY]


def script(server: TestServer, *answers: ScriptedAnswer) -> None:
    server.app[FAULTS_KEY].scripted.extend(answers)


async def new_chat(provider: RoostedHRProvider, server: TestServer, name: str = "Crew", *members: str) -> str:
    chat = await provider.create_chat(name, members or ("120915",))
    sent(server)
    return chat.id


# --- the unified API -------------------------------------------------------------------------------


async def test_create_chat_posts_members_and_name_and_returns_the_chat(
    provider: RoostedHRProvider, server: TestServer
) -> None:
    chat = await provider.create_chat("Shift crew", ["120915", 2041])

    [request] = sent(server)
    assert (request.method, request.path) == ("POST", f"/workers/{ME}/chats")
    assert request.headers["X-API-KEY"] == TEST_API_KEY
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == {"members": ["120915", "2041"], "name": "Shift crew"}
    assert chat.provider == "roostedhr"
    assert isinstance(chat.id, str) and chat.id in state_of(server).chats
    assert chat.name == "Shift crew"
    assert chat.members == (ME, "120915", "2041")
    assert isinstance(chat.created_at, datetime) and chat.created_at.tzinfo is not None
    assert isinstance(chat.raw, RoostedChat)
    assert chat.raw.chat_admin is True and chat.raw.unread_count == 0


async def test_create_chat_without_name_omits_it_and_the_chat_is_named_after_its_members(
    provider: RoostedHRProvider, server: TestServer
) -> None:
    chat = await provider.create_chat(None, ["120915"])

    [request] = sent(server)
    assert request.body == {"members": ["120915"]}
    assert chat.name == "Chris Davis, Aaron Labrado"


async def test_rename_chat_patches_only_the_name(provider: RoostedHRProvider, server: TestServer) -> None:
    chat_id = await new_chat(provider, server)

    chat = await provider.rename_chat(chat_id, "Project Alpha Team")

    [request] = sent(server)
    assert (request.method, request.path) == ("PATCH", f"/workers/{ME}/chats/{chat_id}")
    assert request.headers["X-API-KEY"] == TEST_API_KEY
    assert request.body == {"name": "Project Alpha Team"}
    assert (chat.id, chat.name, chat.members) == (chat_id, "Project Alpha Team", (ME, "120915"))


async def test_set_members_patches_only_the_members_and_replaces_the_list(
    provider: RoostedHRProvider, server: TestServer
) -> None:
    chat_id = await new_chat(provider, server, "Crew", "120915", "2041")

    chat = await provider.set_members(chat_id, [ME, 5377])

    [request] = sent(server)
    assert (request.method, request.path) == ("PATCH", f"/workers/{ME}/chats/{chat_id}")
    assert request.body == {"members": [ME, "5377"]}
    assert chat.members == (ME, "5377")
    assert chat.name == "Crew"


async def test_post_message_posts_the_text_once(provider: RoostedHRProvider, server: TestServer) -> None:
    chat_id = await new_chat(provider, server)

    message = await provider.post_message(chat_id, "Your shift starts soon.")

    [request] = sent(server)
    assert (request.method, request.path) == ("POST", f"/workers/{ME}/chats/{chat_id}/messages")
    assert request.body == {"message": "Your shift starts soon."}
    assert (message.provider, message.chat_id, message.text) == (
        "roostedhr",
        chat_id,
        "Your shift starts soon.",
    )
    assert isinstance(message.id, str) and isinstance(message.sent_at, datetime)
    assert isinstance(message.raw, RoostedMessage) and message.raw.sender_id == ME
    assert [m.text for m in state_of(server).chats[chat_id].messages] == ["Your shift starts soon."]


async def test_get_chat_reads_one_chat_with_members(provider: RoostedHRProvider, server: TestServer) -> None:
    chat_id = await new_chat(provider, server)

    chat = await provider.get_chat(chat_id)

    [request] = sent(server)
    assert (request.method, request.path, request.body) == ("GET", f"/workers/{ME}/chats/{chat_id}", None)
    assert request.headers["X-API-KEY"] == TEST_API_KEY
    assert (chat.id, chat.name, chat.members) == (chat_id, "Crew", (ME, "120915"))
    assert chat.raw.on_chat is True and chat.raw.locked is False


async def test_list_chats_follows_the_cursor_and_never_fetches_each_chat(
    server: TestServer,
) -> None:
    provider = make_provider(server, page_size=2)
    created = [await new_chat(provider, server, f"Chat {n}") for n in range(5)]
    newest_first = created[::-1]

    chats = [chat async for chat in provider.list_chats()]
    await provider.close()

    assert [chat.id for chat in chats] == newest_first
    assert all(chat.members == () and isinstance(chat.raw, RoostedChat) for chat in chats)
    requests = sent(server)
    assert [(r.method, r.path) for r in requests] == [("GET", f"/workers/{ME}/chats")] * 3
    assert [r.query for r in requests] == [
        {"limit": "2"},
        {"limit": "2", "last_seen_id": newest_first[1]},
        {"limit": "2", "last_seen_id": newest_first[3]},
    ]


async def test_list_messages_follows_the_cursor(server: TestServer) -> None:
    provider = make_provider(server, page_size=2)
    chat_id = await new_chat(provider, server)
    for text in ("one", "two", "three", "four"):
        await provider.post_message(chat_id, text)
    sent(server)

    messages = [message async for message in provider.list_messages(chat_id)]
    await provider.close()

    assert [m.text for m in messages] == ["four", "three", "two", "one"]
    assert all(m.chat_id == chat_id and m.raw.read == "1" for m in messages)
    requests = sent(server)
    path = f"/workers/{ME}/chats/{chat_id}/messages"
    assert [(r.method, r.path) for r in requests] == [("GET", path)] * 2
    assert [r.query for r in requests] == [{"limit": "2"}, {"limit": "2", "last_seen_id": messages[1].id}]


async def test_delete_chat_is_unsupported_and_sends_nothing(
    provider: RoostedHRProvider, server: TestServer
) -> None:
    assert isinstance(provider, ChatProvider)
    assert Capability.DELETE_CHAT not in provider.capabilities
    assert provider.capabilities == frozenset(Capability) - {Capability.DELETE_CHAT}

    with pytest.raises(Unsupported) as raised:
        await provider.delete_chat("yJjarB5xUW")

    assert (raised.value.provider, raised.value.operation) == ("roostedhr", "delete_chat")
    assert sent(server) == []


async def test_create_chat_refuses_options_roostedhr_does_not_have(
    provider: RoostedHRProvider, server: TestServer
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await provider.create_chat("Crew", ["120915"], topic="x")

    assert "topic" in raised.value.field_errors
    assert sent(server) == []


# --- the typed client ------------------------------------------------------------------------------


async def test_client_list_filters_are_sent_as_documented(
    provider: RoostedHRProvider, server: TestServer
) -> None:
    await new_chat(provider, server, "Night crew")
    await new_chat(provider, server, "Day shift")
    other = make_provider(server, worker_id="120915")
    await other.create_chat("Kitchen crew", ["2041"])
    await other.close()
    sent(server)

    mine = await provider.client.list_chats(search_term="crew")
    everyone = await provider.client.list_chats(all_chats=True, search_term="CREW", limit=5)

    assert [chat.name for chat in mine.chats] == ["Night crew"]
    assert [chat.name for chat in everyone.chats] == ["Kitchen crew", "Night crew"]
    assert everyone.has_more is False
    assert [r.query for r in sent(server)] == [
        {"search_term": "crew"},
        {"all_chats": "true", "search_term": "CREW", "limit": "5"},
    ]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda p: p.create_chat("Crew", ["120915", ""]), "members"),
        (lambda p: p.create_chat("Crew", "120915"), "members"),
        (lambda p: p.create_chat("", ["120915"]), "name"),
        (lambda p: p.rename_chat("abc", "  "), "name"),
        (lambda p: p.set_members("abc", [None]), "members"),
        (lambda p: p.post_message("abc", ""), "message"),
        (lambda p: p.get_chat(""), "chat_id"),
        (lambda p: p.client.list_chats(limit=0), "limit"),
        (lambda p: p.client.list_messages("abc", last_seen_id=""), "last_seen_id"),
        (lambda p: p.client.update_chat("abc"), "name"),
    ],
)
async def test_invalid_arguments_are_refused_before_sending(
    provider: RoostedHRProvider, server: TestServer, call: Any, field: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await call(provider)

    assert field in raised.value.field_errors
    assert raised.value.provider == "roostedhr"
    assert sent(server) == []


# --- errors and retries ----------------------------------------------------------------------------


async def test_bad_api_key_is_an_auth_error_with_the_providers_message(server: TestServer) -> None:
    provider = make_provider(server, api_key="wrong")

    with pytest.raises(AuthError) as raised:
        await provider.get_chat("abc")
    await provider.close()

    assert (raised.value.status, raised.value.message) == (401, "Unauthorized: invalid API key")
    assert len(sent(server)) == 1


async def test_forbidden_write_is_an_auth_error(provider: RoostedHRProvider, server: TestServer) -> None:
    chat_id = await new_chat(provider, server)
    reader = make_provider(server, api_key=READ_ONLY_API_KEY)

    with pytest.raises(AuthError) as raised:
        await reader.rename_chat(chat_id, "Nope")
    await reader.close()

    assert (raised.value.status, raised.value.message) == (
        403,
        "Forbidden: this API key may not modify chats",
    )
    assert state_of(server).chats[chat_id].name == "Crew"


async def test_unknown_chat_is_not_found(provider: RoostedHRProvider) -> None:
    with pytest.raises(NotFound) as raised:
        await provider.get_chat("missing")

    assert (raised.value.status, raised.value.message) == (404, "Chat not found")


async def test_unknown_member_is_an_invalid_request_with_the_providers_message(
    provider: RoostedHRProvider,
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await provider.create_chat("Crew", ["120915", "999"])

    assert raised.value.status == 422
    assert raised.value.message == "Unknown worker ID(s) in members: 999"


async def test_rate_limit_without_retries_left_is_rate_limited_with_retry_after(server: TestServer) -> None:
    provider = make_provider(server, retries=1)
    script(server, ScriptedAnswer(429, retry_after=1))

    with pytest.raises(RateLimited) as raised:
        await provider.get_chat("abc")
    await provider.close()

    assert (raised.value.status, raised.value.retry_after, raised.value.message) == (
        429,
        1.0,
        "Scripted failure",
    )


async def test_429_is_retried_after_retry_after_even_for_post_message(
    provider: RoostedHRProvider, server: TestServer
) -> None:
    chat_id = await new_chat(provider, server)
    script(server, ScriptedAnswer(429, retry_after=1))

    started = time.monotonic()
    message = await provider.post_message(chat_id, "hello")

    assert time.monotonic() - started >= 0.9
    assert message.text == "hello"
    assert [r.method for r in sent(server)] == ["POST", "POST"]
    assert len(state_of(server).chats[chat_id].messages) == 1


@pytest.mark.parametrize("operation", ["get_chat", "rename_chat", "set_members", "list_chats"])
async def test_5xx_is_retried_for_calls_safe_to_repeat(
    provider: RoostedHRProvider, server: TestServer, operation: str
) -> None:
    chat_id = await new_chat(provider, server)
    script(server, ScriptedAnswer(503))

    if operation == "get_chat":
        await provider.get_chat(chat_id)
    elif operation == "rename_chat":
        await provider.rename_chat(chat_id, "Again")
    elif operation == "set_members":
        await provider.set_members(chat_id, [ME])
    else:
        assert [chat.id async for chat in provider.list_chats()] == [chat_id]

    requests = sent(server)
    assert len(requests) == 2 and requests[0] == requests[1]


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_is_not_retried_for_post_message(
    provider: RoostedHRProvider, server: TestServer, status: int
) -> None:
    chat_id = await new_chat(provider, server)
    script(server, ScriptedAnswer(status))

    with pytest.raises(Unavailable) as raised:
        await provider.post_message(chat_id, "hello")

    assert (raised.value.status, raised.value.message) == (status, "Scripted failure")
    assert len(sent(server)) == 1


async def test_5xx_is_not_retried_for_create_chat(provider: RoostedHRProvider, server: TestServer) -> None:
    script(server, ScriptedAnswer(502))

    with pytest.raises(Unavailable):
        await provider.create_chat("Crew", ["120915"])

    assert len(sent(server)) == 1


async def test_empty_2xx_answers_are_accepted(provider: RoostedHRProvider, server: TestServer) -> None:
    chat_id = await new_chat(provider, server)
    script(server, ScriptedAnswer(204), ScriptedAnswer(200), ScriptedAnswer(201))

    renamed = await provider.rename_chat(chat_id, "Renamed")
    members = await provider.set_members(chat_id, [ME, 2041])
    message = await provider.post_message(chat_id, "hello")

    assert (renamed.id, renamed.name, renamed.raw) == (chat_id, "Renamed", None)
    assert (members.id, members.members) == (chat_id, (ME, "2041"))
    assert (message.chat_id, message.text, message.id, message.raw) == (chat_id, "hello", None, None)
    stored = state_of(server).chats[chat_id]
    assert (stored.name, stored.members, len(stored.messages)) == ("Renamed", [ME, "2041"], 1)


async def test_empty_answer_to_create_chat_is_an_error_not_a_made_up_chat(
    provider: RoostedHRProvider, server: TestServer
) -> None:
    script(server, ScriptedAnswer(201))

    with pytest.raises(ProviderError, match="no chat"):
        await provider.create_chat("Crew", ["120915"])


async def test_the_api_key_never_reaches_the_logs(
    provider: RoostedHRProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    await provider.create_chat("Crew", ["120915"])

    assert caplog.records
    assert TEST_API_KEY not in caplog.text
    assert TEST_API_KEY not in repr(make_provider_config())


# --- config and registration -----------------------------------------------------------------------


def make_provider_config(**overrides: Any) -> RoostedHRConfig:
    table = {"provider": "roostedhr", "api_key": TEST_API_KEY, "worker_id": 3158, **overrides}
    return cattrs.Converter().structure(table, RoostedHRConfig)


async def test_config_from_toml_values_accepts_an_int_worker_id_and_defaults_the_base_url() -> None:
    config = make_provider_config()

    assert (config.worker_id, config.base_url, config.page_size) == (
        "3158",
        "https://api.roostedhr.com/api/1_12",
        20,
    )
    provider = ADAPTER.build("roosted", config)
    assert isinstance(provider, RoostedHRProvider)
    assert (provider.name, provider.client.worker_id) == ("roosted", "3158")
    await provider.close()
    assert (ADAPTER.provider, ADAPTER.config_type, ADAPTER.emulator_prefix) == (
        "roostedhr",
        RoostedHRConfig,
        "/roostedhr",
    )


def test_config_without_an_api_key_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"adapters\.roosted\.api_key"):
        build_provider("roosted", make_provider_config(api_key=""))
