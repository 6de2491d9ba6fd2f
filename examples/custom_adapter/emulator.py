"""Pigeon as a local aiohttp app, so the example runs end to end with no account:
`chatwright emulate --provider examples.custom_adapter.adapter:ADAPTER --port 8091`.

Built on the emulator kit (framework.emulation), which records requests (`GET /_emulator/requests`) and can
inject faults (`POST /_emulator/faults`, `?_fail=503`).
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import attrs
from aiohttp import web

from framework.adapter_registry import EmulatorOptions
from framework.emulation import emulator_app, read_json

TEST_TOKEN = "test-token"

Route = Callable[[web.Request], Awaitable[web.Response]]


@attrs.define
class PigeonState:
    """Rooms and their messages, in memory."""

    rooms: dict[int, dict[str, Any]] = attrs.field(factory=dict)
    messages: dict[int, list[dict[str, Any]]] = attrs.field(factory=dict)
    last_id: int = 0

    def next_id(self) -> int:
        self.last_id += 1
        return self.last_id

    def reset(self) -> None:
        self.rooms.clear()
        self.messages.clear()


STATE_KEY = web.AppKey("pigeon_state", PigeonState)


def error_response(status: int, message: str, retry_after: float | None = None) -> web.Response:
    """Pigeon's error answer: `{"error": {"code", "message"}}`, with Retry-After when asked to wait."""
    codes = {400: "bad_request", 401: "unauthorized", 404: "not_found", 422: "invalid", 429: "rate_limited"}
    headers = {"Retry-After": str(round(retry_after))} if retry_after is not None else None
    body = {"error": {"code": codes.get(status, "server_error"), "message": message}}
    return web.json_response(body, status=status, headers=headers)


def authenticated(route: Route) -> Route:
    async def checked(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TEST_TOKEN}":
            return error_response(401, f"send Authorization: Bearer {TEST_TOKEN}")
        return await route(request)

    return checked


def _room(request: web.Request) -> dict[str, Any] | None:
    room_id = request.match_info["room_id"]
    return request.app[STATE_KEY].rooms.get(int(room_id)) if room_id.isdigit() else None


@authenticated
async def list_rooms(request: web.Request) -> web.Response:
    return web.json_response({"rooms": list(request.app[STATE_KEY].rooms.values())})


@authenticated
async def create_room(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("title"), str):
        return error_response(422, "expected {title: string, members: [string]}")
    members = body.get("members")
    if not isinstance(members, list) or not all(isinstance(m, str) and m for m in members):
        return error_response(422, "members must be a list of user ids")
    state = request.app[STATE_KEY]
    room = {"id": state.next_id(), "title": body["title"], "members": members}
    state.rooms[room["id"]] = room
    state.messages[room["id"]] = []
    return web.json_response(room, status=201)


@authenticated
async def get_room(request: web.Request) -> web.Response:
    room = _room(request)
    return web.json_response(room) if room else error_response(404, "no such room")


@authenticated
async def list_messages(request: web.Request) -> web.Response:
    room = _room(request)
    if room is None:
        return error_response(404, "no such room")
    return web.json_response({"messages": request.app[STATE_KEY].messages[room["id"]]})


@authenticated
async def post_message(request: web.Request) -> web.Response:
    room = _room(request)
    if room is None:
        return error_response(404, "no such room")
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"]:
        return error_response(422, "expected {body: non-empty string}")
    state = request.app[STATE_KEY]
    message = {
        "id": state.next_id(),
        "room_id": room["id"],
        "body": body["body"],
        "sent_at": datetime.now(UTC).isoformat(),
    }
    state.messages[room["id"]].append(message)
    return web.json_response(message, status=201)


def create_app(options: EmulatorOptions) -> web.Application:
    state = PigeonState()
    app = emulator_app(options=options, error_responder=error_response, reset=state.reset)
    app[STATE_KEY] = state
    app.router.add_get("/v1/rooms", list_rooms)
    app.router.add_post("/v1/rooms", create_room)
    app.router.add_get("/v1/rooms/{room_id}", get_room)
    app.router.add_get("/v1/rooms/{room_id}/messages", list_messages)
    app.router.add_post("/v1/rooms/{room_id}/messages", post_message)
    return app
