"""The Popsell emulator answers as Popsell documents, and the Popsell converter absorbs Popsell's quirks."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.popsell.emulator import STATE_KEY, TEST_API_KEY, create_app
from adapters.popsell.models import ChatMessage, Chatroom, Page, make_converter
from framework.adapter_registry import EmulatorOptions

SEED_CHATROOM_KEYS = {
    "id_chatroom",
    "ambassadors",
    "date_insert",
    "last_message_date",
    "type_chatroom",
    "type_discussion",
    "source",
    "established_dialogue",
    "last_rating",
    "last_summary",
}
SEED_AMBASSADOR_KEYS = {
    "id_ambassador",
    "image",
    "firstname",
    "lastname",
    "username",
    "email",
    "email_tmp",
    "active",
    "status",
    "online",
    "last_action_date",
    "customer_id",
    "anonymized",
    "chatroom_pivot_data",
}
SEED_PIVOT_KEYS = {"id_chatroom", "id_ambassador", "last_read_message", "is_blocked", "archived"}
DATE_INSERT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
DIALOGUE_DATE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$")


@pytest.fixture
async def emulator(aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(EmulatorOptions()))


async def token_headers(emulator: Any) -> dict[str, str]:
    response = await emulator.post(
        "/auth/token", json={"api_key": TEST_API_KEY}, headers={"X-Popsell-Domain": "shop.popsell.test"}
    )
    assert response.status == 200
    return {"Authorization": f"Bearer {(await response.json())['token']}", "X-Popsell-Brand": "3"}


# -- auth ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"X-Popsell-Domain": "shop"}, {"api_key": "wrong"}, 401),
        ({}, {"api_key": TEST_API_KEY}, 401),
        ({"X-Popsell-Domain": "shop"}, {}, 422),
    ],
)
async def test_token_needs_the_test_key_and_a_domain(
    emulator: Any, headers: dict[str, str], body: dict[str, Any], status: int
) -> None:
    response = await emulator.post("/auth/token", json=body, headers=headers)
    assert response.status == status
    answer = await response.json()
    if status == 401:
        assert answer == {"message": "Unauthorized."}
    else:
        assert answer["errors"] == {"api_key": ["The api key field is required."]}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-issued", "X-Popsell-Brand": "3"}, {"Authorization": "Basic abc"}],
)
async def test_calls_without_an_issued_token_get_popsells_401(emulator: Any, headers: dict[str, str]) -> None:
    response = await emulator.get("/chat/chatrooms/1", headers=headers)
    assert response.status == 401
    assert await response.json() == {"message": "Unauthorized."}


@pytest.mark.parametrize("brand", [None, "", "brand-3"])
async def test_calls_without_an_integer_brand_get_a_bodyless_403(emulator: Any, brand: str | None) -> None:
    headers = await token_headers(emulator)
    if brand is None:
        del headers["X-Popsell-Brand"]
    else:
        headers["X-Popsell-Brand"] = brand
    response = await emulator.get("/chat/ambassadors/1/chatrooms", headers=headers)
    assert response.status == 403
    assert await response.read() == b""


async def test_expired_tokens_are_refused(emulator: Any) -> None:
    headers = await token_headers(emulator)
    assert (await emulator.post("/_emulator/expire-tokens")).status == 200
    assert (await emulator.get("/chat/ambassadors/1/chatrooms", headers=headers)).status == 401


# -- chatrooms -----------------------------------------------------------------------------------------------


async def test_create_answers_the_documented_201_shape(emulator: Any) -> None:
    headers = await token_headers(emulator)
    response = await emulator.post(
        "/chat/chatrooms", json={"ids_ambassadors": [1, 2], "source": 2}, headers=headers
    )
    assert response.status == 201
    room = await response.json()
    assert set(room) == SEED_CHATROOM_KEYS
    assert [ambassador["id_ambassador"] for ambassador in room["ambassadors"]] == [1, 2]
    assert all(set(ambassador) == SEED_AMBASSADOR_KEYS for ambassador in room["ambassadors"])
    assert set(room["ambassadors"][0]["chatroom_pivot_data"][0]) == SEED_PIVOT_KEYS
    assert DATE_INSERT.match(room["date_insert"])
    assert (room["type_chatroom"], room["source"], room["established_dialogue"]) == (0, 2, False)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"source": 0}, {"ids_ambassadors"}),
        ({"ids_ambassadors": [1, 2], "id_brand_tag": 1, "source": 0}, {"ids_ambassadors"}),
        ({"ids_ambassadors": [1, 2, 3], "source": 0}, {"ids_ambassadors"}),
        ({"ids_ambassadors": [1, "2"], "source": 0}, {"ids_ambassadors.1"}),
        ({"ids_ambassadors": [1, 2], "source": 3}, {"source"}),
        ({"ids_ambassadors": [1, 2], "source": "0"}, {"source"}),
        ({"id_brand_tag": 99, "source": 0}, {"id_brand_tag"}),
        ({}, {"ids_ambassadors", "source"}),
    ],
)
async def test_create_refuses_bad_bodies_with_popsells_422(
    emulator: Any, body: dict[str, Any], fields: set[str]
) -> None:
    response = await emulator.post("/chat/chatrooms", json=body, headers=await token_headers(emulator))
    assert response.status == 422
    answer = await response.json()
    assert set(answer["errors"]) == fields
    first = next(iter(answer["errors"].values()))[0]
    more = sum(len(reasons) for reasons in answer["errors"].values()) - 1
    assert answer["message"] == (f"{first} (and {more} more error)" if more else first)


async def test_unknown_chatroom_is_a_text_404(emulator: Any) -> None:
    response = await emulator.get("/chat/chatrooms/42", headers=await token_headers(emulator))
    assert response.status == 404
    assert response.content_type == "text/plain"
    assert await response.text() == "Chatroom not found."


# -- messages ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "fields"),
    [
        ({"id_ambassador": 1, "content": "hi"}, 422, {"type_message"}),
        ({"content": "hi", "type_message": 0}, 422, {"id_ambassador"}),
        ({"id_ambassador": 1, "type_message": 0}, 422, {"content"}),
        ({"id_ambassador": 3, "content": "hi", "type_message": 0}, 403, None),
    ],
)
async def test_post_message_validates_its_body_and_sender(
    emulator: Any, body: dict[str, Any], status: int, fields: set[str] | None
) -> None:
    headers = await token_headers(emulator)
    await emulator.post("/chat/chatrooms", json={"ids_ambassadors": [1, 2], "source": 0}, headers=headers)
    response = await emulator.post("/chat/chatrooms/1/messages", json=body, headers=headers)
    assert response.status == status
    if fields is not None:
        assert set((await response.json())["errors"]) == fields


async def test_a_dialogue_is_established_once_two_authors_wrote(emulator: Any) -> None:
    headers = await token_headers(emulator)
    await emulator.post("/chat/chatrooms", json={"ids_ambassadors": [1, 2], "source": 0}, headers=headers)
    for sender in (1, 2):
        body = {"id_ambassador": sender, "content": "hi", "type_message": 0}
        response = await emulator.post("/chat/chatrooms/1/messages", json=body, headers=headers)
        assert response.status == 201
        message = await response.json()
        assert set(message) == {
            "id_message",
            "date_insert",
            "author",
            "content",
            "type_message",
            "status_moderation",
        }
    room = await (await emulator.get("/chat/chatrooms/1", headers=headers)).json()
    assert DIALOGUE_DATE.match(room["established_dialogue"])


# -- kit faults and admin routes -----------------------------------------------------------------------------


async def test_injected_faults_answer_with_popsells_error_bodies(emulator: Any) -> None:
    headers = await token_headers(emulator)
    await emulator.post("/_emulator/script", json={"answers": [{"status": 503}, {"status": 404}]})
    failed = await emulator.get("/chat/chatrooms/1", headers=headers)
    assert failed.status == 503
    assert "message" in await failed.json()
    missing = await emulator.get("/chat/chatrooms/1", headers=headers)
    assert missing.content_type == "text/plain"

    await emulator.post("/_emulator/faults", json={"rate_limit": 1})
    await emulator.get("/chat/ambassadors/1/chatrooms", headers=headers)
    throttled = await emulator.get("/chat/ambassadors/1/chatrooms", headers=headers)
    assert throttled.status == 429
    assert throttled.headers["Retry-After"] == "1"
    assert await throttled.json() == {"message": "Too Many Attempts."}


async def test_reset_forgets_chatrooms_and_tokens(emulator: Any) -> None:
    headers = await token_headers(emulator)
    await emulator.post("/chat/chatrooms", json={"ids_ambassadors": [1, 2], "source": 0}, headers=headers)
    assert (await emulator.post("/_emulator/reset")).status == 200
    state = emulator.server.app[STATE_KEY]
    assert (state.rooms, state.tokens, sorted(state.ambassadors)) == ({}, set(), [1, 2, 3, 4])
    assert (await emulator.get("/_emulator/requests")).status == 200


# -- the converter -------------------------------------------------------------------------------------------


def test_converter_absorbs_strings_for_ints_flags_dates_and_extra_fields() -> None:
    room = make_converter().structure(
        {
            "id_chatroom": "8",
            "ambassadors": [
                {
                    "id_ambassador": "42",
                    "active": "1",
                    "online": "0",
                    "anonymized": 1,
                    "last_action_date": "2025-05-04T09:42:00Z",
                    "chatroom_pivot_data": [{"id_chatroom": 8, "is_blocked": "1", "archived": "false"}],
                    "nickname": "not documented",
                }
            ],
            "date_insert": "2023-10-06T13:41:09.123000Z",
            "last_message_date": None,
            "source": 2,
            "established_dialogue": "2023-10-06 13:41:09.123",
            "last_rating": {"value": "5", "comment": "Great ambassador"},
            "last_summary": None,
            "admins": [1],
        },
        Chatroom,
    )
    assert room.id_chatroom == 8
    ambassador = room.ambassadors[0]
    assert (ambassador.id_ambassador, ambassador.active, ambassador.online, ambassador.anonymized) == (
        42,
        1,
        False,
        True,
    )
    assert ambassador.chatroom_pivot_data[0].is_blocked is True
    assert ambassador.chatroom_pivot_data[0].archived is False
    assert room.date_insert == datetime(2023, 10, 6, 13, 41, 9, 123000, tzinfo=UTC)
    assert room.established_dialogue == datetime(2023, 10, 6, 13, 41, 9, 123000, tzinfo=UTC)
    assert room.source == 2
    assert room.last_rating is not None and room.last_rating.value == 5
    assert room.last_message_date is None and room.last_summary is None


@pytest.mark.parametrize(
    ("raw", "expected"), [(True, True), (False, False), ("false", False), (1, True), (None, None)]
)
def test_established_dialogue_may_be_a_boolean(raw: Any, expected: bool | None) -> None:
    room = make_converter().structure({"id_chatroom": 1, "established_dialogue": raw}, Chatroom)
    assert room.established_dialogue is expected


def test_source_sent_as_a_string_is_read_as_an_int() -> None:
    assert make_converter().structure({"id_chatroom": 1, "source": "1"}, Chatroom).source == 1


def test_a_laravel_page_is_read_with_its_next_page() -> None:
    page = make_converter().structure(
        {
            "current_page": 1,
            "data": [{"id_message": 5, "date_insert": "2023-10-06T13:41:09.123000Z", "content": "hi"}],
            "last_page": 2,
            "per_page": "15",
            "total": 16,
            "next_page_url": "https://shop/api/v2/chat/chatrooms/1/messages?page=2",
            "links": [],
        },
        Page[ChatMessage],
    )
    assert (page.per_page, page.has_more, page.data[0].id_message) == (15, True, 5)


@pytest.mark.parametrize(
    "bad", [{"id_chatroom": "eight"}, {"id_chatroom": 1, "ambassadors": [{"online": "maybe"}]}]
)
def test_converter_refuses_what_it_cannot_read(bad: dict[str, Any]) -> None:
    with pytest.raises(Exception, match="Chatroom"):
        make_converter().structure(bad, Chatroom)
