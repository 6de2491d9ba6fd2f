"""The RoostedHR emulator answers like the documentation, and the converter reads the documented quirks."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import cattrs
import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from adapters.roostedhr import ChatPage, MessagePage, RoostedChat, RoostedMessage, make_converter
from adapters.roostedhr.emulator import TEST_API_KEY, create_app
from framework.adapter_registry import EmulatorOptions

AUTH = {"X-API-KEY": TEST_API_KEY}
CHATS = "/workers/3158/chats"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
async def client(aiohttp_client: AiohttpClient) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(EmulatorOptions()))


async def create(client: TestClient[Any, Any], body: Any) -> tuple[int, Any]:
    response = await client.post(CHATS, json=body, headers=AUTH)
    return response.status, await response.json()


# --- auth ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Unauthorized: missing X-API-KEY header"),
        ({"X-API-KEY": "nope"}, "Unauthorized: invalid API key"),
        ({"Authorization": f"Bearer {TEST_API_KEY}"}, "Unauthorized: missing X-API-KEY header"),
    ],
)
async def test_calls_without_a_valid_api_key_get_401_message(
    client: TestClient[Any, Any], headers: dict[str, str], message: str
) -> None:
    response = await client.get(CHATS, headers=headers)

    assert response.status == 401
    assert await response.json() == {"message": message}


async def test_unknown_acting_worker_is_404(client: TestClient[Any, Any]) -> None:
    response = await client.get("/workers/999/chats", headers=AUTH)

    assert response.status == 404
    assert await response.json() == {"message": "Worker 999 not found"}


async def test_a_worker_not_on_the_chat_gets_403(client: TestClient[Any, Any]) -> None:
    _, chat = await create(client, {"members": ["120915"]})

    response = await client.get(f"/workers/2041/chats/{chat['id']}", headers=AUTH)

    assert response.status == 403
    assert (await response.json())["message"] == "Worker 2041 is not a member of this chat"


# --- body validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"name": "Crew"}, 422, "The members field is required"),
        ({"members": [120915]}, 422, "The members field must be an array of worker IDs (strings)"),
        ({"members": "120915"}, 422, "The members field must be an array of worker IDs (strings)"),
        ({"members": ["120915", "999"]}, 422, "Unknown worker ID(s) in members: 999"),
        ({"members": ["120915"], "name": 5}, 422, "The name field must be a non-empty string"),
        (["120915"], 400, "The request body must be a JSON object"),
    ],
)
async def test_create_chat_validates_the_body(
    client: TestClient[Any, Any], body: Any, status: int, message: str
) -> None:
    assert await create(client, body) == (status, {"message": message})


async def test_invalid_json_is_400(client: TestClient[Any, Any]) -> None:
    response = await client.post(
        CHATS, data=b"{not json", headers={**AUTH, "Content-Type": "application/json"}
    )

    assert response.status == 400
    assert await response.json() == {"message": "The request body must be a JSON object"}


async def test_patch_needs_name_or_members_and_post_message_needs_message(
    client: TestClient[Any, Any],
) -> None:
    _, chat = await create(client, {"members": ["120915"]})
    path = f"{CHATS}/{chat['id']}"

    patched = await client.patch(path, json={}, headers=AUTH)
    posted = await client.post(f"{path}/messages", json={"text": "hi"}, headers=AUTH)
    blank = await client.post(f"{path}/messages", json={"message": " "}, headers=AUTH)

    assert (patched.status, await patched.json()) == (
        422,
        {"message": "Provide name and/or members to update"},
    )
    assert (posted.status, await posted.json()) == (422, {"message": "The message field is required"})
    assert (blank.status, await blank.json()) == (
        422,
        {"message": "The message field must be a non-empty string"},
    )


@pytest.mark.parametrize("query", ["limit=0", "limit=ten", "last_seen_id=nope", "all_chats=maybe"])
async def test_list_query_is_validated(client: TestClient[Any, Any], query: str) -> None:
    response = await client.get(f"{CHATS}?{query}", headers=AUTH)

    assert response.status == 422
    assert set(await response.json()) == {"message"}


# --- documented shapes and quirks ------------------------------------------------------------------


async def test_chat_answers_send_flags_and_counts_as_strings_and_millisecond_timestamps(
    client: TestClient[Any, Any],
) -> None:
    status, chat = await create(client, {"members": ["120915"]})

    assert status == 201
    assert chat["name"] == "Chris Davis, Aaron Labrado"
    assert {k: chat[k] for k in ("chat_admin", "silenced", "on_chat", "locked", "unread_count")} == {
        "chat_admin": "1",
        "silenced": "0",
        "on_chat": "1",
        "locked": "0",
        "unread_count": "0",
    }
    assert TIMESTAMP.match(chat["date_created"]) and TIMESTAMP.match(chat["chats_order"])
    assert chat["most_recent_message_id"] is None and chat["last_message_timestamp"] is None
    assert chat["members"] == [
        {"id": "3158", "name_first": "Chris", "name_last": "Davis", "selected_picture_location": "example/1"},
        {
            "id": "120915",
            "name_first": "Aaron",
            "name_last": "Labrado",
            "selected_picture_location": "example/2",
        },
    ]


async def test_list_items_carry_no_members_and_unread_counts_follow_reading(
    client: TestClient[Any, Any],
) -> None:
    _, chat = await create(client, {"members": ["120915"], "name": "Crew"})
    other_chats = "/workers/120915/chats"
    posted = await client.post(f"{CHATS}/{chat['id']}/messages", json={"message": "hi"}, headers=AUTH)
    message = await posted.json()

    before = await (await client.get(other_chats, headers=AUTH)).json()
    read = await (await client.get(f"{other_chats}/{chat['id']}/messages", headers=AUTH)).json()
    after = await (await client.get(other_chats, headers=AUTH)).json()

    assert posted.status == 201
    assert set(message) == {"id", "message", "sender_id", "sender_name", "date_created", "read"}
    assert (message["sender_name"], message["read"]) == ("Chris Davis", "1")
    [item] = before["chats"]
    assert "members" not in item and item["auto_add_workers"] == "0" and item["event_id"] is None
    assert (item["unread_count"], item["message"], item["name_first"]) == ("1", "hi", "Chris")
    assert before["has_more"] is False
    assert [m["read"] for m in read["messages"]] == ["0"]
    assert after["chats"][0]["unread_count"] == "0"


async def test_chats_are_listed_by_chats_order_most_recently_active_first(
    client: TestClient[Any, Any],
) -> None:
    ids = [(await create(client, {"members": ["120915"], "name": name}))[1]["id"] for name in "ABC"]
    await client.post(f"{CHATS}/{ids[0]}/messages", json={"message": "A is busy"}, headers=AUTH)

    listing = await (await client.get(CHATS, headers=AUTH)).json()

    assert [chat["name"] for chat in listing["chats"]] == ["A", "C", "B"]
    orders = [chat["chats_order"] for chat in listing["chats"]]
    assert orders == sorted(orders, reverse=True)


async def test_scripted_answers_and_kit_faults_use_the_error_body(client: TestClient[Any, Any]) -> None:
    answers = [{"status": 429, "retry_after": 1}, {"status": 503}]
    scripted = await client.post("/_emulator/script", json={"answers": answers})
    limited = await client.get(CHATS, headers=AUTH)
    failed = await client.get(CHATS, headers=AUTH)
    served = await client.get(CHATS, headers=AUTH)
    await client.post("/_emulator/faults", json={"error_rate": 1.0})
    injected = await client.get(CHATS, headers=AUTH)
    recorded = await (await client.get("/_emulator/requests")).json()

    assert scripted.status == 200
    assert (limited.status, limited.headers["Retry-After"], await limited.json()) == (
        429,
        "1",
        {"message": "Scripted failure"},
    )
    assert (failed.status, await failed.json()) == (503, {"message": "Scripted failure"})
    assert served.status == 200
    assert (injected.status, await injected.json()) == (503, {"message": "Injected failure"})
    assert [(r["method"], r["path"]) for r in recorded] == [("GET", CHATS)] * 4


async def test_reset_forgets_chats(client: TestClient[Any, Any]) -> None:
    await create(client, {"members": ["120915"]})

    await client.post("/_emulator/reset")
    listing = await (await client.get(CHATS, headers=AUTH)).json()

    assert listing == {"chats": [], "has_more": False}


# --- the converter ---------------------------------------------------------------------------------

PATCH_EXAMPLE = {
    "id": "yJjarB5xUW",
    "name": "Project Alpha Team",
    "chat_admin": "1",
    "silenced": "0",
    "on_chat": "1",
    "locked": "0",
    "date_created": "2024-01-05T20:13:00.000Z",
    "most_recent_message_id": None,
    "last_message_timestamp": None,
    "message": None,
    "name_first": None,
    "selected_picture_location": None,
    "chats_order": "2024-01-05T20:13:00.000Z",
    "unread_count": "0",
    "members": [
        {"id": "3158", "name_first": "Chris", "name_last": "Davis", "selected_picture_location": "example/1"},
        {
            "id": 120915,
            "name_first": "Aaron",
            "name_last": "Labrado",
            "selected_picture_location": "example/2",
        },
    ],
}


def test_converter_reads_the_documented_patch_example_with_string_flags() -> None:
    chat = make_converter().structure(PATCH_EXAMPLE, RoostedChat)

    assert (chat.chat_admin, chat.silenced, chat.on_chat, chat.locked) == (True, False, True, False)
    assert chat.unread_count == 0
    assert chat.date_created == datetime(2024, 1, 5, 20, 13, tzinfo=UTC)
    assert chat.last_message_timestamp is None and chat.message is None
    assert [m.id for m in chat.members or ()] == ["3158", "120915"]
    assert chat.members is not None and chat.members[1].full_name == "Aaron Labrado"


def test_converter_reads_integer_flags_other_dates_and_ignores_unknown_fields() -> None:
    item = {
        "id": 42,
        "name": "Crew",
        "chat_admin": 0,
        "silenced": 1,
        "on_chat": 1,
        "locked": 0,
        "date_created": "2023-11-07T05:31:56Z",
        "chats_order": "2023-11-07 05:31:56",
        "unread_count": 3,
        "auto_add_workers": "1",
        "event_id": 77,
        "something_new": {"nested": True},
    }
    page = make_converter().structure({"chats": [item], "has_more": "1"}, ChatPage)

    [chat] = page.chats
    assert page.has_more is True
    assert (chat.id, chat.event_id, chat.members) == ("42", "77", None)
    assert (chat.chat_admin, chat.silenced, chat.auto_add_workers, chat.unread_count) == (
        False,
        True,
        True,
        3,
    )
    assert chat.date_created == chat.chats_order == datetime(2023, 11, 7, 5, 31, 56, tzinfo=UTC)


def test_converter_reads_messages_with_read_as_a_string() -> None:
    body = {
        "messages": [
            {
                "id": 1001,
                "message": "hi",
                "sender_id": 3158,
                "sender_name": "Chris Davis",
                "date_created": "2024-01-05T20:13:00.000Z",
                "read": "0",
            }
        ],
        "has_more": False,
    }
    [message] = make_converter().structure(body, MessagePage).messages

    assert isinstance(message, RoostedMessage)
    assert (message.id, message.sender_id, message.read, message.is_read) == ("1001", "3158", "0", False)


def test_converter_refuses_a_flag_that_is_not_zero_or_one() -> None:
    with pytest.raises(cattrs.ClassValidationError) as raised:
        make_converter().structure({**PATCH_EXAMPLE, "locked": "maybe"}, RoostedChat)

    assert any("0/1 flag" in str(error) for error in raised.value.exceptions)
