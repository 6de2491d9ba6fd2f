"""The GroupAlarm emulator on its own: auth, body validation, documented shapes, state, kit faults."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from adapters.groupalarm.emulator import STATE_KEY, create_app
from adapters.groupalarm.emulator_state import (
    SEED_EVENT_ID,
    SEED_EVENT_ROOM_ID,
    SEED_SCHEDULED_DELETION,
    TEST_API_TOKEN,
    TEST_PERSONAL_ACCESS_TOKEN,
    MessageReply,
)
from framework.adapter_registry import EmulatorOptions

ORG = {"API-TOKEN": TEST_API_TOKEN}
USER = {"Personal-Access-Token": TEST_PERSONAL_ACCESS_TOKEN}
Client = TestClient[Any, Any]


@pytest.fixture
async def emulator(aiohttp_client: AiohttpClient) -> Client:
    return await aiohttp_client(create_app(EmulatorOptions()))


async def answer(response: Any) -> tuple[int, Any]:
    return response.status, await response.json()


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        ({}, "missing API-TOKEN or Personal-Access-Token header"),
        ({"API-TOKEN": "nope"}, "invalid API-TOKEN"),
        ({"Personal-Access-Token": "nope"}, "invalid Personal-Access-Token"),
        ({**ORG, **USER}, "send either API-TOKEN or Personal-Access-Token, not both"),
    ],
)
async def test_bad_credentials_get_401_with_a_message(
    emulator: Client, auth: dict[str, str], message: str
) -> None:
    status, body = await answer(await emulator.get(f"/chatroom/{SEED_EVENT_ROOM_ID}", headers=auth))
    assert (status, body) == (401, {"message": message})


async def test_a_room_has_the_documented_shape_plus_fields_clients_must_ignore(emulator: Client) -> None:
    status, body = await answer(await emulator.get(f"/chatroom/{SEED_EVENT_ROOM_ID}", headers=USER))

    assert status == 200
    assert body == {
        "assignedUsers": [7, 11, 12],
        "avatarURL": "",
        "eventID": SEED_EVENT_ID,
        "id": SEED_EVENT_ROOM_ID,
        "name": "Alarm: Fire Main Street",
        "organizationID": 1,
        "scheduledDeletion": SEED_SCHEDULED_DELETION,
        "type": "event",
        "admins": [],
        "moderators": [],
        "automationEnabled": False,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"assignedUsers": [1], "organizationID": 1}, "name: required"),
        ({"name": "x", "assignedUsers": [1]}, "organizationID: required"),
        ({"name": "", "organizationID": 1}, "name: expected a non-empty string"),
        ({"name": "x", "organizationID": "1"}, "organizationID: expected an integer, got '1'"),
        (
            {"name": "x", "organizationID": 1, "assignedUsers": ["7"]},
            "assignedUsers[0]: expected a positive int64, got '7'",
        ),
        (
            {"name": "x", "organizationID": 1, "assignedUsers": 7},
            "assignedUsers: expected an array of integers",
        ),
        ({"name": "x", "organizationID": 1, "admins": [7]}, "unknown field(s): admins"),
        (["not", "an", "object"], "request body must be a JSON object"),
    ],
)
async def test_create_validates_the_body(emulator: Client, body: Any, message: str) -> None:
    status, answered = await answer(await emulator.post("/chatroom", json=body, headers=ORG))
    assert (status, answered) == (400, {"message": message})


async def test_an_organization_token_only_reaches_its_organization(emulator: Client) -> None:
    response = await emulator.post("/chatroom", json={"name": "x", "organizationID": 2}, headers=ORG)
    assert await answer(response) == (403, {"message": "no permission for organization 2"})


async def test_update_needs_the_whole_room_of_the_same_organization(emulator: Client) -> None:
    created = await (
        await emulator.post("/chatroom", json={"name": "x", "organizationID": 1}, headers=ORG)
    ).json()
    path = f"/chatroom/{created['id']}"

    partial = await emulator.put(path, json={"name": "y", "organizationID": 1}, headers=ORG)
    moved = await emulator.put(
        path, json={"name": "y", "organizationID": 2, "assignedUsers": []}, headers=USER
    )

    assert await answer(partial) == (400, {"message": "assignedUsers: required"})
    assert await answer(moved) == (400, {"message": "organizationID: chatroom 2 belongs to organization 1"})


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/chatrooms?organization_id=1&limit=51", "limit: must be between 1 and 50, got 51"),
        (
            "/chatrooms?organization_id=1&offset=-1",
            "offset: must be between 0 and 9223372036854775807, got -1",
        ),
        ("/chatrooms?organization_id=1&all=maybe", "all: expected true or false, got 'maybe'"),
        ("/chatrooms", "organization_id: required with an API-TOKEN (requests regarding users fail)"),
        ("/chatroom?organization_id=1", "event_id: required query parameter is missing"),
        ("/chatroom/abc", "roomID: expected an integer, got 'abc'"),
    ],
)
async def test_queries_and_paths_are_validated(emulator: Client, path: str, message: str) -> None:
    assert await answer(await emulator.get(path, headers=ORG)) == (400, {"message": message})


async def test_a_message_needs_text(emulator: Client) -> None:
    response = await emulator.post(
        f"/chatroom/{SEED_EVENT_ROOM_ID}/message", json={"text": "hi"}, headers=ORG
    )
    assert await answer(response) == (400, {"message": "unknown field(s): text"})


async def test_a_deleted_room_is_gone_and_default_or_event_rooms_cannot_be_deleted(emulator: Client) -> None:
    created = await (
        await emulator.post("/chatroom", json={"name": "x", "organizationID": 1}, headers=ORG)
    ).json()

    deleted = await emulator.delete(f"/chatroom/{created['id']}", headers=ORG)
    again = await emulator.get(f"/chatroom/{created['id']}", headers=ORG)
    event_room = await emulator.delete(f"/chatroom/{SEED_EVENT_ROOM_ID}", headers=ORG)

    assert deleted.status == 204 and await deleted.read() == b""
    assert await answer(again) == (404, {"message": f"chatroom {created['id']} not found"})
    assert await answer(event_room) == (
        400,
        {"message": "chatroom 1 has type 'event'; only custom chatrooms can be deleted"},
    )


async def test_the_message_answer_is_selectable_over_http(emulator: Client) -> None:
    settings = await emulator.post("/_emulator/groupalarm", json={"message_reply": "201-body"})
    sent = await emulator.post(
        f"/chatroom/{SEED_EVENT_ROOM_ID}/message", json={"message": "hi"}, headers=USER
    )

    assert (await settings.json())["message_reply"] == "201-body"
    assert emulator.app[STATE_KEY].message_reply is MessageReply.CREATED_WITH_BODY
    status, body = await answer(sent)
    assert (
        status == 201 and body["message"] == "hi" and body["userID"] == 7 and body["createdAt"].endswith("Z")
    )


async def test_the_kits_fault_injection_answers_the_providers_error_body(emulator: Client) -> None:
    await emulator.post("/_emulator/script", json={"status": 500})
    response = await emulator.get(f"/chatroom/{SEED_EVENT_ROOM_ID}", headers=ORG)
    assert await answer(response) == (500, {"message": "Scripted failure"})


async def test_the_kits_rate_limit_answers_429_with_retry_after(aiohttp_client: AiohttpClient) -> None:
    emulator = await aiohttp_client(create_app(EmulatorOptions(rate_limit=1)))

    first = await emulator.get(f"/chatroom/{SEED_EVENT_ROOM_ID}", headers=ORG)
    second = await emulator.get(f"/chatroom/{SEED_EVENT_ROOM_ID}", headers=ORG)

    assert first.status == 200
    assert await answer(second) == (429, {"message": "Too many requests"})
    assert second.headers["Retry-After"] == "1"


async def test_reset_returns_to_the_seed(emulator: Client) -> None:
    await emulator.post("/chatroom", json={"name": "x", "organizationID": 1}, headers=ORG)

    await emulator.post("/_emulator/reset")
    listed = await (await emulator.get("/chatrooms?organization_id=1&all=true", headers=ORG)).json()

    assert [room["id"] for room in listed["entries"]] == [SEED_EVENT_ROOM_ID] and listed["total"] == 1
    recorded = await (await emulator.get("/_emulator/requests")).json()
    assert [(entry["method"], entry["path"]) for entry in recorded] == [("GET", "/chatrooms")]


async def test_it_works_mounted_under_its_prefix_as_chatwright_emulate_does(
    aiohttp_client: AiohttpClient,
) -> None:
    root = web.Application()
    root.add_subapp("/groupalarm", create_app(EmulatorOptions()))
    emulator = await aiohttp_client(root)

    room = await emulator.get(f"/groupalarm/chatroom/{SEED_EVENT_ROOM_ID}", headers=ORG)
    settings = await emulator.post("/groupalarm/_emulator/groupalarm", json={"update_reply": "204"})

    assert room.status == 200 and (await room.json())["id"] == SEED_EVENT_ROOM_ID
    assert settings.status == 200 and (await settings.json())["update_reply"] == "204"


async def test_unknown_settings_are_refused_and_point_to_the_kits_script(emulator: Client) -> None:
    response = await emulator.post("/_emulator/groupalarm", json={"fail_next": [{"status": 500}]})

    status, body = await answer(response)
    assert status == 400 and body["message"].endswith(
        "unknown fail_next; scripted answers: POST /_emulator/script"
    )
