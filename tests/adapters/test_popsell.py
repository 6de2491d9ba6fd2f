"""The Popsell adapter against its emulator: unified API, typed client, auth, retries and error mapping."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any

import pytest

from adapters.popsell import ADAPTER, PopsellConfig, PopsellProvider
from adapters.popsell.emulator import PAGE_SIZE, STATE_KEY, TEST_API_KEY, create_app
from adapters.popsell.models import ChatMessage, Chatroom, ChatroomPivot
from framework.adapter_registry import ENTRY_POINT_GROUP, EmulatorOptions
from framework.chats import Capability, ChatProvider
from framework.emulation import FAULTS_KEY, RecordedRequest
from framework.errors import (
    AuthError,
    ConfigError,
    InvalidRequest,
    NotFound,
    ProviderError,
    Unavailable,
    Unsupported,
)

DOMAIN = "shop.popsell.test"


@pytest.fixture
async def server(aiohttp_server: Any) -> Any:
    return await aiohttp_server(create_app(EmulatorOptions()))


def make_provider(server: Any, **overrides: Any) -> PopsellProvider:
    settings: dict[str, Any] = {
        "provider": "popsell",
        "base_url": str(server.make_url("")),
        "domain": DOMAIN,
        "api_key": TEST_API_KEY,
        "brand_id": "3",
        "sender_ambassador_id": 1,
        "retries": 3,
        **overrides,
    }
    provider = ADAPTER.build("shop", PopsellConfig(**settings))
    assert isinstance(provider, PopsellProvider)
    return provider


@pytest.fixture
async def popsell(server: Any) -> AsyncIterator[PopsellProvider]:
    provider = make_provider(server)
    yield provider
    await provider.close()


def recorded(server: Any) -> list[RecordedRequest]:
    return list(server.app[FAULTS_KEY].requests)


def calls(server: Any) -> list[tuple[str, str]]:
    return [(entry.method, entry.path) for entry in recorded(server)]


def forget_requests(server: Any) -> None:
    server.app[FAULTS_KEY].requests.clear()


async def script(client: Any, **answer: Any) -> None:
    response = await client.post("/_emulator/script", json=answer)
    assert response.status == 200


def assert_authorised(entry: RecordedRequest) -> None:
    assert entry.headers["Authorization"].startswith("Bearer ")
    assert entry.headers["X-Popsell-Brand"] == "3"


# -- wiring and config ---------------------------------------------------------------------------------------


def test_adapter_is_registered_and_config_takes_ids_as_strings_or_ints() -> None:
    (entry,) = [entry for entry in entry_points(group=ENTRY_POINT_GROUP) if entry.name == "popsell"]
    assert entry.load() is ADAPTER
    config = PopsellConfig(
        provider="popsell",
        base_url="https://shop.popsell.test/api/v2",
        domain=DOMAIN,
        api_key="secret-key",
        brand_id="3",
        sender_ambassador_id=7,
    )
    assert (config.brand_id, config.sender_ambassador_id, config.source) == (3, 7, 0)
    assert "secret-key" not in repr(config)
    with pytest.raises(ValueError):
        PopsellConfig(**{**_config_args(), "source": 3})
    with pytest.raises(ValueError):
        PopsellConfig(**{**_config_args(), "brand_id": "brand-3"})


def _config_args() -> dict[str, Any]:
    return {
        "provider": "popsell",
        "base_url": "https://x/api/v2",
        "domain": DOMAIN,
        "api_key": "k",
        "brand_id": 3,
        "sender_ambassador_id": 1,
    }


async def test_provider_satisfies_the_unified_protocol_and_lists_its_capabilities(
    popsell: PopsellProvider,
) -> None:
    assert isinstance(popsell, ChatProvider)
    assert popsell.name == "shop"
    assert popsell.capabilities == {
        Capability.CREATE_CHAT,
        Capability.POST_MESSAGE,
        Capability.GET_CHAT,
        Capability.LIST_CHATS,
        Capability.LIST_MESSAGES,
    }


# -- unified API: what is sent -------------------------------------------------------------------------------


async def test_create_chat_fetches_a_token_then_posts_the_two_ambassadors(
    server: Any, popsell: PopsellProvider
) -> None:
    chat = await popsell.create_chat(None, ["1", 2])

    token_request, create_request = recorded(server)
    assert (token_request.method, token_request.path) == ("POST", "/auth/token")
    assert token_request.headers["X-Popsell-Domain"] == DOMAIN
    assert token_request.body == {"api_key": TEST_API_KEY}
    assert "Authorization" not in token_request.headers
    assert (create_request.method, create_request.path) == ("POST", "/chat/chatrooms")
    assert create_request.body == {"ids_ambassadors": [1, 2], "source": 0}
    assert_authorised(create_request)
    assert chat.provider == "popsell"
    assert chat.id == "1"
    assert chat.name is None
    assert chat.members == ("1", "2")
    assert chat.created_at is not None and chat.created_at.tzinfo is not None
    assert isinstance(chat.raw, Chatroom)
    assert chat.raw.type_chatroom == 0


async def test_create_chat_ignores_a_name_since_chatrooms_have_none(
    server: Any, popsell: PopsellProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="chatwright.adapters.popsell"):
        chat = await popsell.create_chat("Support for order 42", [1, 3])
    assert chat.name is None
    assert recorded(server)[-1].body == {"ids_ambassadors": [1, 3], "source": 0}
    assert any("Support for order 42" in record.getMessage() for record in caplog.records)
    assert not any(TEST_API_KEY in record.getMessage() for record in caplog.records)


async def test_create_chat_with_a_brand_tag_and_source_option(server: Any, popsell: PopsellProvider) -> None:
    chat = await popsell.create_chat(None, [], id_brand_tag="1", source=2)
    assert recorded(server)[-1].body == {"id_brand_tag": 1, "source": 2}
    assert chat.members == ("2", "3")
    assert chat.raw.type_chatroom == 7
    assert chat.raw.source == 2


async def test_config_source_is_the_default_for_new_chatrooms(server: Any) -> None:
    provider = make_provider(server, source="1")
    try:
        await provider.create_chat(None, [1, 2])
    finally:
        await provider.close()
    assert recorded(server)[-1].body == {"ids_ambassadors": [1, 2], "source": 1}


@pytest.mark.parametrize(
    ("members", "options", "field"),
    [
        ([1, 2, 3], {}, "ids_ambassadors"),
        ([1], {}, "ids_ambassadors"),
        ([], {}, "ids_ambassadors"),
        ([1, 2], {"id_brand_tag": 1}, "id_brand_tag"),
        ([1, 2], {"source": 3}, "source"),
        ([1, "bob"], {}, "members"),
        ([1, 2], {"title": "x"}, "title"),
    ],
)
async def test_create_chat_is_validated_before_anything_is_sent(
    server: Any, popsell: PopsellProvider, members: list[Any], options: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await popsell.create_chat(None, members, **options)
    assert field in caught.value.field_errors
    assert caught.value.provider == "popsell"
    assert recorded(server) == []


async def test_post_message_posts_text_as_the_configured_sender(
    server: Any, popsell: PopsellProvider
) -> None:
    chat = await popsell.create_chat(None, [1, 2])
    message = await popsell.post_message(int(chat.id), "Hello, how can I help?")

    entry = recorded(server)[-1]
    assert (entry.method, entry.path) == ("POST", f"/chat/chatrooms/{chat.id}/messages")
    assert entry.body == {"id_ambassador": 1, "content": "Hello, how can I help?", "type_message": 0}
    assert_authorised(entry)
    assert message.chat_id == chat.id
    assert message.id == "1"
    assert message.text == "Hello, how can I help?"
    assert message.sent_at is not None and message.sent_at.tzinfo is not None
    assert isinstance(message.raw, ChatMessage)


async def test_get_chat_reads_the_chatroom_and_its_quirky_dates(
    server: Any, popsell: PopsellProvider
) -> None:
    created = await popsell.create_chat(None, [1, 2])
    before = await popsell.get_chat(created.id)
    assert recorded(server)[-1].method == "GET"
    assert recorded(server)[-1].path == f"/chat/chatrooms/{created.id}"
    assert before.raw.established_dialogue is False

    await popsell.post_message(created.id, "hi")
    await popsell.client.post_message(int(created.id), id_ambassador=2, content="hello")
    after = await popsell.get_chat(created.id)
    assert after == created
    assert isinstance(after.raw.established_dialogue, datetime)
    assert after.raw.established_dialogue.tzinfo == UTC
    assert after.raw.last_message_date is not None and after.raw.last_message_date.microsecond > 0


async def test_list_chats_lists_the_senders_chatrooms_page_after_page(
    server: Any, popsell: PopsellProvider
) -> None:
    for index in range(PAGE_SIZE + 1):
        await popsell.create_chat(None, [1, 2 + index % 3])
    await popsell.create_chat(None, [2, 3])
    forget_requests(server)

    chats = [chat async for chat in popsell.list_chats()]

    assert len(chats) == PAGE_SIZE + 1
    assert all("1" in chat.members for chat in chats)
    assert [(entry.method, entry.path, entry.query) for entry in recorded(server)] == [
        ("GET", "/chat/ambassadors/1/chatrooms", {"page": "1"}),
        ("GET", "/chat/ambassadors/1/chatrooms", {"page": "2"}),
    ]


async def test_list_messages_follows_pagination(server: Any, popsell: PopsellProvider) -> None:
    chat = await popsell.create_chat(None, [1, 2])
    for index in range(PAGE_SIZE + 2):
        await popsell.post_message(chat.id, f"message {index}")
    forget_requests(server)

    messages = [message async for message in popsell.list_messages(chat.id)]

    assert [message.text for message in messages] == [f"message {index}" for index in range(PAGE_SIZE + 2)]
    assert all(message.chat_id == chat.id for message in messages)
    assert [(entry.path, entry.query) for entry in recorded(server)] == [
        (f"/chat/chatrooms/{chat.id}/messages", {"page": "1"}),
        (f"/chat/chatrooms/{chat.id}/messages", {"page": "2"}),
    ]


async def test_rename_members_and_delete_are_unsupported_and_send_nothing(
    server: Any, popsell: PopsellProvider
) -> None:
    with pytest.raises(Unsupported) as renamed:
        await popsell.rename_chat("1", "New name")
    with pytest.raises(Unsupported) as members:
        await popsell.set_members("1", ["1", "2"])
    with pytest.raises(Unsupported) as deleted:
        await popsell.delete_chat(1)
    assert [error.operation for error in (renamed.value, members.value, deleted.value)] == [
        "rename_chat",
        "set_members",
        "delete_chat",
    ]
    assert renamed.value.provider == "popsell"
    assert recorded(server) == []


async def test_a_chat_id_that_is_not_a_number_is_refused_before_sending(
    server: Any, popsell: PopsellProvider
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await popsell.get_chat("room-8")
    assert "chat_id" in caught.value.field_errors
    assert recorded(server) == []


# -- errors --------------------------------------------------------------------------------------------------


async def test_a_wrong_api_key_is_an_auth_error_with_popsells_message(server: Any) -> None:
    provider = make_provider(server, api_key="wrong")
    try:
        with pytest.raises(AuthError) as caught:
            await provider.get_chat(1)
    finally:
        await provider.close()
    assert (caught.value.status, caught.value.message) == (401, "Unauthorized.")
    assert calls(server) == [("POST", "/auth/token")]


async def test_403_without_a_body_is_an_auth_error(popsell: PopsellProvider) -> None:
    chat = await popsell.create_chat(None, [1, 2])
    with pytest.raises(AuthError) as caught:
        await popsell.client.post_message(int(chat.id), id_ambassador=4, content="not my room")
    assert caught.value.status == 403
    assert caught.value.message == "Forbidden - You don't have permission to access this route"


async def test_404_text_body_is_not_found_with_the_text_kept(popsell: PopsellProvider) -> None:
    with pytest.raises(NotFound) as caught:
        await popsell.get_chat("999")
    assert (caught.value.status, caught.value.message) == (404, "Chatroom not found.")


async def test_422_is_invalid_request_with_popsells_field_errors(popsell: PopsellProvider) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await popsell.create_chat(None, [1, 99])
    assert caught.value.status == 422
    assert caught.value.message == "The selected ids_ambassadors.1 is invalid."
    assert caught.value.field_errors == {"ids_ambassadors.1": ["The selected ids_ambassadors.1 is invalid."]}


async def test_422_seed_body_keeps_every_field(
    server: Any, popsell: PopsellProvider, aiohttp_client: Any
) -> None:
    seed_body = {
        "message": "field is required! (and 3 more error)",
        "errors": {
            "field": ["Error message details here"],
            "additionalProperty1": ["Error message details here"],
        },
    }
    await script(await aiohttp_client(server), status=422, body=seed_body, path="/chat/chatrooms")
    with pytest.raises(InvalidRequest) as caught:
        await popsell.create_chat(None, [1, 2])
    assert caught.value.message == "field is required! (and 3 more error)"
    assert set(caught.value.field_errors) == {"field", "additionalProperty1"}


# -- auth renewal --------------------------------------------------------------------------------------------


async def test_an_expired_token_is_renewed_once_and_the_call_repeated(
    server: Any, popsell: PopsellProvider, aiohttp_client: Any
) -> None:
    chat = await popsell.create_chat(None, [1, 2])
    assert (await (await aiohttp_client(server)).post("/_emulator/expire-tokens")).status == 200
    forget_requests(server)

    assert (await popsell.get_chat(chat.id)).id == chat.id
    path = f"/chat/chatrooms/{chat.id}"
    assert calls(server) == [("GET", path), ("POST", "/auth/token"), ("GET", path)]
    first, _, repeated = recorded(server)
    assert first.headers["Authorization"] != repeated.headers["Authorization"]


async def test_a_second_401_after_renewal_is_raised(
    server: Any, popsell: PopsellProvider, aiohttp_client: Any
) -> None:
    chat = await popsell.create_chat(None, [1, 2])
    path = f"/chat/chatrooms/{chat.id}/messages"
    admin = await aiohttp_client(server)
    queued = await admin.post("/_emulator/script", json={"answers": [{"status": 401, "path": path}] * 2})
    assert await queued.json() == {"queued": 2}
    forget_requests(server)

    with pytest.raises(AuthError):
        await popsell.post_message(chat.id, "hello")
    assert calls(server) == [("POST", path), ("POST", "/auth/token"), ("POST", path)]


async def test_concurrent_calls_share_one_token_fetch(server: Any, popsell: PopsellProvider) -> None:
    server.app[STATE_KEY].tokens.clear()
    results = await asyncio.gather(*(popsell.create_chat(None, [1, 2]) for _ in range(5)))
    assert len({chat.id for chat in results}) == 5
    assert calls(server).count(("POST", "/auth/token")) == 1


async def test_calls_rejected_together_renew_the_token_once(
    server: Any, popsell: PopsellProvider, aiohttp_client: Any
) -> None:
    chat = await popsell.create_chat(None, [1, 2])
    await (await aiohttp_client(server)).post("/_emulator/expire-tokens")
    forget_requests(server)

    chats = await asyncio.gather(*(popsell.get_chat(chat.id) for _ in range(4)))

    assert {each.id for each in chats} == {chat.id}
    assert calls(server).count(("POST", "/auth/token")) == 1


def test_an_empty_domain_or_api_key_is_refused_when_the_adapter_is_built() -> None:
    with pytest.raises(ConfigError) as caught:
        ADAPTER.build("shop", PopsellConfig(**{**_config_args(), "api_key": ""}))
    assert caught.value.problems == ("adapters.shop.api_key: empty; set the Popsell api key",)


# -- retries -------------------------------------------------------------------------------------------------


async def test_429_with_retry_after_is_waited_out_and_retried_even_for_post_message(
    server: Any, popsell: PopsellProvider, aiohttp_client: Any
) -> None:
    chat = await popsell.create_chat(None, [1, 2])
    path = f"/chat/chatrooms/{chat.id}/messages"
    await script(await aiohttp_client(server), status=429, retry_after=1, path=path)

    started = time.monotonic()
    message = await popsell.post_message(chat.id, "after the wait")

    assert time.monotonic() - started >= 0.9
    assert message.text == "after the wait"
    assert calls(server).count(("POST", path)) == 2


async def test_5xx_is_retried_for_calls_safe_to_repeat(
    server: Any, popsell: PopsellProvider, aiohttp_client: Any
) -> None:
    chat = await popsell.create_chat(None, [1, 2])
    admin = await aiohttp_client(server)
    chat_path = f"/chat/chatrooms/{chat.id}"
    archive_path = f"{chat_path}/ambassadors/1/archive"
    await script(admin, status=503, path=chat_path)
    await script(admin, status=500, path=archive_path)

    assert (await popsell.get_chat(chat.id)).id == chat.id
    assert (await popsell.client.archive(int(chat.id), 1)) is not None
    assert calls(server).count(("GET", chat_path)) == 2
    assert calls(server).count(("PATCH", archive_path)) == 2


async def test_an_empty_answer_to_create_chat_is_an_error_saying_the_room_may_exist(
    server: Any, popsell: PopsellProvider, aiohttp_client: Any
) -> None:
    await script(await aiohttp_client(server), status=201, path="/chat/chatrooms")
    with pytest.raises(ProviderError, match="may exist"):
        await popsell.create_chat(None, [1, 2])


@pytest.mark.parametrize("operation", ["post_message", "create_chat"])
async def test_5xx_is_not_retried_for_calls_that_may_have_been_acted_on(
    server: Any, popsell: PopsellProvider, aiohttp_client: Any, operation: str
) -> None:
    chat = await popsell.create_chat(None, [1, 2])
    path = f"/chat/chatrooms/{chat.id}/messages" if operation == "post_message" else "/chat/chatrooms"
    await script(await aiohttp_client(server), status=503, path=path)
    forget_requests(server)

    with pytest.raises(Unavailable) as caught:
        if operation == "post_message":
            await popsell.post_message(chat.id, "maybe delivered")
        else:
            await popsell.create_chat(None, [1, 2])
    assert caught.value.status == 503
    assert calls(server) == [("POST", path)]


# -- empty answers and the client-only endpoints -------------------------------------------------------------


async def test_an_empty_201_to_post_message_is_accepted(
    server: Any, popsell: PopsellProvider, aiohttp_client: Any
) -> None:
    chat = await popsell.create_chat(None, [1, 2])
    await script(await aiohttp_client(server), status=201, path=f"/chat/chatrooms/{chat.id}/messages")
    message = await popsell.post_message(chat.id, "sent, no echo")
    assert (message.chat_id, message.id, message.text, message.raw) == (chat.id, None, "sent, no echo", None)


async def test_client_archive_block_and_read_send_the_documented_requests(
    server: Any, popsell: PopsellProvider
) -> None:
    chat = await popsell.create_chat(None, [1, 2])
    room = int(chat.id)
    await popsell.post_message(room, "hi")
    forget_requests(server)

    archived = await popsell.client.archive(room, 1)
    blocked = await popsell.client.block(room, 2, is_blocked=True)
    read = await popsell.client.mark_read(room, 1)

    base = f"/chat/chatrooms/{room}/ambassadors"
    assert [(entry.method, entry.path, entry.body) for entry in recorded(server)] == [
        ("PATCH", f"{base}/1/archive", {"archive": True}),
        ("PATCH", f"{base}/2/block", {"is_blocked": True}),
        ("POST", f"{base}/1/read", None),
    ]
    assert all(entry.headers["X-Popsell-Brand"] == "3" for entry in recorded(server))
    assert archived == ChatroomPivot(id_chatroom=room, id_ambassador=1, archived=True)
    assert blocked is not None and blocked.is_blocked
    assert read is None  # the emulator answers 204, as an undocumented answer may be
    pivot = (await popsell.client.get_chatroom(room)).ambassadors[0].chatroom_pivot_data[0]
    assert pivot.last_read_message == 1 and pivot.archived


async def test_client_filters_the_ambassadors_chatrooms(server: Any, popsell: PopsellProvider) -> None:
    kept = await popsell.create_chat(None, [1, 2])
    archived = await popsell.create_chat(None, [1, 3])
    await popsell.create_chat(None, [], id_brand_tag=1)
    await popsell.client.archive(int(archived.id), 1)
    forget_requests(server)

    page = await popsell.client.list_ambassador_chatrooms(1, archived=False, type_chatroom=0)
    only_archived = [room async for room in popsell.client.iter_ambassador_chatrooms(1, archived=True)]

    assert [room.id_chatroom for room in page.data] == [int(kept.id)]
    assert (page.current_page, page.last_page, page.total, page.has_more) == (1, 1, 1, False)
    assert [room.id_chatroom for room in only_archived] == [int(archived.id)]
    assert [entry.query for entry in recorded(server)] == [
        {"filter[archived]": "0", "filter[type_chatroom]": "0"},
        {"filter[archived]": "1", "page": "1"},
    ]
