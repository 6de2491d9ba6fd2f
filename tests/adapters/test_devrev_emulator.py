"""The DevRev emulator's own rules: auth, body validation, error bodies, rate-limit headers, admin routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.devrev.emulator import STATE_KEY, TEST_TOKEN, TEST_USER_ID, create_app
from adapters.devrev.emulator_state import DevRevState
from framework.adapter_registry import EmulatorOptions

GRACE = "don:identity:dvrv-us-1:devo/0:devu/2"
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def api(aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(EmulatorOptions()))


def world(api: TestClient[Any, Any]) -> DevRevState:
    assert isinstance(api.server, TestServer)
    return api.server.app[STATE_KEY]


async def post(api: TestClient[Any, Any], path: str, body: Any, **headers: str) -> tuple[int, Any]:
    response = await api.post(path, json=body, headers=headers or AUTH)
    return response.status, await response.json()


async def test_a_missing_or_unknown_token_gets_devrevs_401_body(api: TestClient[Any, Any]) -> None:
    missing = await api.post("/chats.create", json={"users": [TEST_USER_ID]})
    unknown = await api.get("/chats.get", params={"id": "x"}, headers={"Authorization": "Bearer nope"})

    for response in (missing, unknown):
        assert response.status == 401
        assert await response.json() == {
            "type": "unauthenticated",
            "message": "Authentication token is missing or invalid",
            "detail": "Authentication token is missing or invalid",
        }
    assert world(api).chats == {}


async def test_a_raw_token_without_bearer_is_accepted(api: TestClient[Any, Any]) -> None:
    status, body = await post(api, "/chats.create", {"users": [TEST_USER_ID]}, Authorization=TEST_TOKEN)
    assert status == 201 and body["chat"]["created_by"]["id"] == TEST_USER_ID


async def test_created_chat_has_devrevs_shape(api: TestClient[Any, Any]) -> None:
    status, body = await post(api, "/chats.create", {"type": "dm", "users": ["DEVU-1", GRACE], "title": "T"})
    chat = body["chat"]
    assert status == 201
    assert chat["id"] == "don:core:dvrv-us-1:devo/0:dm/1" and chat["display_id"] == "DM-1"
    assert chat["type"] == "dm" and chat["title"] == "T"
    assert [u["id"] for u in chat["users"]] == [TEST_USER_ID, GRACE]
    assert chat["users"][0]["display_id"] == "DEVU-1" and chat["users"][0]["state"] == "active"
    assert chat["created_date"].endswith("Z") and len(chat["created_date"]) == len("2023-01-01T12:00:00.000Z")


@pytest.mark.parametrize(
    ("path", "body", "kind", "field"),
    [
        ("/chats.create", {"type": "dm"}, "missing_required_field", "users"),
        ("/chats.create", {"users": []}, "invalid_field", "users"),
        (
            "/chats.create",
            {"users": [TEST_USER_ID] + [f"DEVU-{n}" for n in range(2, 18)]},
            "invalid_field",
            "users",
        ),
        ("/chats.create", {"users": [TEST_USER_ID, "bob"]}, "invalid_field", "users"),
        ("/chats.create", {"type": "group", "users": [TEST_USER_ID]}, "invalid_field", "type"),
        ("/chats.create", {"users": [TEST_USER_ID], "is_default": "yes"}, "invalid_field", "is_default"),
        ("/chats.update", {"title": "x"}, "missing_required_field", "id"),
        ("/chats.update", {"id": "DM-1", "users": [TEST_USER_ID]}, "invalid_field", "users"),
        ("/timeline-entries.create", {"object": "DM-1", "body": "x"}, "missing_required_field", "type"),
        ("/timeline-entries.create", {"type": "note", "object": "DM-1"}, "invalid_field", "type"),
        ("/timeline-entries.create", {"type": "timeline_comment"}, "missing_required_field", "object"),
        (
            "/timeline-entries.create",
            {"type": "timeline_comment", "object": "DM-1", "body_type": "html"},
            "invalid_field",
            "body_type",
        ),
        ("/timeline-entries.list", {"object": "DM-1", "limit": 0}, "invalid_field", "limit"),
        ("/timeline-entries.list", {"object": "DM-1", "cursor": "garbage"}, "invalid_field", "cursor"),
    ],
)
async def test_bad_bodies_get_the_documented_400(
    api: TestClient[Any, Any], path: str, body: dict[str, Any], kind: str, field: str
) -> None:
    await post(api, "/chats.create", {"users": [TEST_USER_ID]})
    status, answer = await post(api, path, body)
    assert status == 400
    assert answer["type"] == kind and answer["field_name"] == field
    assert answer["message"] and "detail" in answer


async def test_a_body_that_is_not_json_is_a_parse_error(api: TestClient[Any, Any]) -> None:
    response = await api.post("/chats.create", data=b"{users:", headers=AUTH)
    assert response.status == 400 and (await response.json())["type"] == "parse_error"


async def test_chats_get_by_post_takes_id_xor_users(api: TestClient[Any, Any]) -> None:
    _, created = await post(api, "/chats.create", {"users": [TEST_USER_ID, GRACE]})
    chat_id = created["chat"]["id"]

    assert (await post(api, "/chats.get", {"id": chat_id}))[1]["chat"]["id"] == chat_id
    assert (await post(api, "/chats.get", {"id": "DM-1"}))[1]["chat"]["id"] == chat_id
    assert (await post(api, "/chats.get", {"type": "dm", "users": [GRACE, "DEVU-1"]}))[1]["chat"][
        "id"
    ] == chat_id
    both = await post(api, "/chats.get", {"id": chat_id, "users": [GRACE]})
    neither = await post(api, "/chats.get", {})
    assert (both[0], both[1]["type"]) == (400, "bad_request")
    assert (neither[0], neither[1]["type"], neither[1]["field_name"]) == (400, "missing_required_field", "id")
    missing = await api.get("/chats.get", headers=AUTH)
    assert missing.status == 400 and (await missing.json())["field_name"] == "id"


async def test_unknown_objects_are_404_not_found(api: TestClient[Any, Any]) -> None:
    status, body = await post(api, "/timeline-entries.create", {"type": "timeline_comment", "object": "DM-9"})
    assert status == 404 and body["type"] == "not_found" and set(body) >= {"message", "detail"}


async def test_a_non_default_dm_never_conflicts(api: TestClient[Any, Any]) -> None:
    first = await post(api, "/chats.create", {"users": [TEST_USER_ID, GRACE]})
    second = await post(api, "/chats.create", {"users": [TEST_USER_ID, GRACE], "is_default": False})
    assert (first[0], second[0]) == (201, 201)
    assert first[1]["chat"]["id"] != second[1]["chat"]["id"]


async def test_every_response_carries_the_rate_limit_headers(api: TestClient[Any, Any]) -> None:
    ok = await api.post("/chats.create", json={"users": [TEST_USER_ID]}, headers=AUTH)
    again = await api.get("/chats.get", params={"id": "DM-1"}, headers=AUTH)
    denied = await api.get("/chats.get", params={"id": "DM-1"})

    for response in (ok, again, denied):
        assert all(
            name in response.headers
            for name in ("X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset")
        )
    assert int(again.headers["X-Ratelimit-Remaining"]) == int(ok.headers["X-Ratelimit-Remaining"]) - 1
    assert int(ok.headers["X-Ratelimit-Reset"]) > 1_600_000_000


async def test_over_the_per_user_limit_is_a_429_with_retry_after(api: TestClient[Any, Any]) -> None:
    world(api).rate_limit = 1
    await api.get("/chats.get", params={"id": "DM-1"}, headers=AUTH)
    response = await api.get("/chats.get", params={"id": "DM-1"}, headers=AUTH)

    body = await response.json()
    assert response.status == 429 and body["type"] == "too_many_requests"
    assert body["retry_after"] >= 1 and response.headers["Retry-After"] == str(body["retry_after"])
    assert response.headers["X-Ratelimit-Remaining"] == "0"


async def test_kit_faults_answer_devrevs_error_bodies(
    api: TestClient[Any, Any], aiohttp_client: ClientFactory
) -> None:
    limited = await aiohttp_client(create_app(EmulatorOptions(rate_limit=1)))
    await limited.get("/chats.get", params={"id": "DM-1"}, headers=AUTH)
    throttled = await limited.get("/chats.get", params={"id": "DM-1"}, headers=AUTH)
    await api.post("/_emulator/script", json={"status": 500})
    failed = await api.get("/chats.get", params={"id": "DM-1"}, headers=AUTH)

    assert throttled.status == 429 and (await throttled.json())["retry_after"] == 1
    assert throttled.headers["Retry-After"] == "1"
    failure = await failed.json()
    assert (failed.status, failure["type"]) == (500, "internal_error") and failure["reference_id"]


async def test_script_reset_and_recorded_requests_admin_routes(api: TestClient[Any, Any]) -> None:
    scripted = await api.post("/_emulator/script", json={"status": 503, "path": "/chats.create"})
    failed = await api.post("/chats.create", json={"users": [TEST_USER_ID]}, headers=AUTH)
    created = await api.post("/chats.create", json={"users": [TEST_USER_ID]}, headers=AUTH)
    recorded = await (await api.get("/_emulator/requests")).json()
    await api.post("/_emulator/reset")

    assert scripted.status == 200
    assert (await api.post("/_emulator/script", json={"status": 99})).status == 400
    assert (failed.status, (await failed.json())["type"], created.status) == (503, "service_unavailable", 201)
    assert [(r["method"], r["path"], r["body"]) for r in recorded] == [
        ("POST", "/chats.create", {"users": [TEST_USER_ID]})
    ] * 2
    assert world(api).chats == {}
    assert (await api.get("/chats.get", params={"id": "DM-1"}, headers=AUTH)).status == 404
