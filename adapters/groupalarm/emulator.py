"""GroupAlarm's chat service as a local aiohttp app (default paths), for tests and `chatwright emulate`.

Credentials: `API-TOKEN: test-api-token` (organization 1) or `Personal-Access-Token: test-pat` (user 7,
in organizations 1 and 2); anything else is answered 401 `{"message": ...}`. Errors are `{message}` with
400, 401, 403, 404, 409 or 500. Beside the kit's `/_emulator` routes and scripted answers
(framework.emulation), which answer with that error body, `GET /_emulator/groupalarm` shows the state and
`POST /_emulator/groupalarm` `{message_reply?, update_reply?}` changes how it answers a message and an update.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from aiohttp import web

from adapters.groupalarm.emulator_state import (
    ORGANIZATION_MEMBERS,
    TEST_API_TOKEN,
    TEST_API_TOKEN_ORGANIZATION,
    TEST_PAT_ORGANIZATIONS,
    TEST_PAT_USER_ID,
    TEST_PERSONAL_ACCESS_TOKEN,
    Caller,
    GroupAlarmState,
    MessageReply,
    Room,
    UpdateReply,
)
from framework.adapter_registry import EmulatorOptions
from framework.emulation import emulator_app, read_json

__all__ = ["STATE_KEY", "create_app", "error_response"]

log = logging.getLogger("chatwright.adapters.groupalarm.emulator")

STATE_KEY = web.AppKey("groupalarm_state", GroupAlarmState)
INT64_MAX = 2**63 - 1
ROOM_FIELDS = frozenset({"assignedUsers", "name", "organizationID"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Reject(Exception):
    """Raised by a route to answer the provider's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _reject(status: int, message: str) -> NoReturn:
    raise _Reject(status, message)


def error_response(status: int, message: str, retry_after: float | None = None) -> web.Response:
    """GroupAlarm's (guessed) error body: `{"message": ...}`, with Retry-After on a 429."""
    headers = {"Retry-After": str(round(retry_after))} if retry_after is not None else None
    return web.json_response({"message": message}, status=status, headers=headers)


def _caller(request: web.Request) -> Caller:
    api_token = request.headers.get("API-TOKEN")
    personal = request.headers.get("Personal-Access-Token")
    if api_token is not None and personal is not None:
        _reject(401, "send either API-TOKEN or Personal-Access-Token, not both")
    if api_token is not None:
        if api_token != TEST_API_TOKEN:
            _reject(401, "invalid API-TOKEN")
        return Caller(organizations=frozenset({TEST_API_TOKEN_ORGANIZATION}), user_id=None)
    if personal is not None:
        if personal != TEST_PERSONAL_ACCESS_TOKEN:
            _reject(401, "invalid Personal-Access-Token")
        return Caller(organizations=TEST_PAT_ORGANIZATIONS, user_id=TEST_PAT_USER_ID)
    _reject(401, "missing API-TOKEN or Personal-Access-Token header")


def _as_int(value: Any, field: str, *, text: bool = False, minimum: int = 1, maximum: int = INT64_MAX) -> int:
    """A JSON integer (or, with `text`, a query or path string of digits) within [minimum, maximum]."""
    number: int | None = None
    if text and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    if number is None:
        _reject(400, f"{field}: expected an integer, got {value!r}")
    if not minimum <= number <= maximum:
        _reject(400, f"{field}: must be between {minimum} and {maximum}, got {number}")
    return number


def _query_int(
    request: web.Request,
    field: str,
    default: int | None = None,
    *,
    minimum: int = 1,
    maximum: int = INT64_MAX,
) -> int:
    """A query parameter; required unless it has a default."""
    raw = request.query.get(field, "")
    if raw == "":
        if default is None:
            _reject(400, f"{field}: required query parameter is missing")
        return default
    return _as_int(raw, field, text=True, minimum=minimum, maximum=maximum)


def _query_bool(request: web.Request, field: str) -> bool:
    raw = request.query.get(field, "false").lower()
    if raw not in {"true", "false", "1", "0"}:
        _reject(400, f"{field}: expected true or false, got {raw!r}")
    return raw in {"true", "1"}


def _check_organization(caller: Caller, organization_id: int) -> None:
    if organization_id not in caller.organizations:
        _reject(403, f"no permission for organization {organization_id}")


async def _json_object(request: web.Request, allowed: frozenset[str]) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        _reject(400, "request body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        _reject(400, f"unknown field(s): {', '.join(unknown)}")
    return body


def _room_body(body: dict[str, Any], *, whole: bool) -> tuple[list[int], str, int]:
    """Validate `{assignedUsers, name, organizationID}`; `whole` (PUT) requires all three."""
    for field in sorted(ROOM_FIELDS if whole else {"name", "organizationID"}):
        if field not in body:
            _reject(400, f"{field}: required")
    name = body["name"]
    if not isinstance(name, str) or not name.strip():
        _reject(400, "name: expected a non-empty string")
    organization_id = _as_int(body["organizationID"], "organizationID")
    users = body.get("assignedUsers", [])
    if users is None:
        users = []
    if not isinstance(users, list):
        _reject(400, "assignedUsers: expected an array of integers")
    for index, user in enumerate(users):
        if isinstance(user, bool) or not isinstance(user, int) or not 1 <= user <= INT64_MAX:
            _reject(400, f"assignedUsers[{index}]: expected a positive int64, got {user!r}")
    return list(dict.fromkeys(users)), name, organization_id


def _state(request: web.Request) -> GroupAlarmState:
    return request.app[STATE_KEY]


def _room(request: web.Request, caller: Caller, *, custom_only: str = "") -> Room:
    room_id = _as_int(request.match_info["roomID"], "roomID", text=True)
    room = _state(request).rooms.get(room_id)
    if room is None:
        _reject(404, f"chatroom {room_id} not found")
    _check_organization(caller, room.organization_id)
    if custom_only and room.type != "custom":
        _reject(400, f"chatroom {room_id} has type {room.type!r}; only custom chatrooms can be {custom_only}")
    return room


async def event_chatroom(request: web.Request) -> web.Response:
    caller = _caller(request)
    organization_id = _query_int(request, "organization_id")
    event_id = _query_int(request, "event_id")
    _check_organization(caller, organization_id)
    for room in _state(request).rooms.values():
        if room.organization_id == organization_id and room.event_id == event_id:
            return web.json_response(room.wire())
    _reject(404, f"no chatroom for event {event_id} in organization {organization_id}")


async def list_chatrooms(request: web.Request) -> web.Response:
    caller = _caller(request)
    organization_id = _query_int(request, "organization_id", 0) or None
    everything = _query_bool(request, "all")
    limit = _query_int(request, "limit", 10, minimum=1, maximum=50)
    offset = _query_int(request, "offset", 0, minimum=0)
    rooms = sorted(_state(request).rooms.values(), key=lambda room: room.id)
    if organization_id is None:
        if caller.user_id is None:
            _reject(400, "organization_id: required with an API-TOKEN (requests regarding users fail)")
        assigned = [room for room in rooms if caller.user_id in room.assigned_users]
        return web.json_response({"entries": [room.wire() for room in assigned], "total": len(assigned)})
    _check_organization(caller, organization_id)
    rooms = [room for room in rooms if room.organization_id == organization_id]
    chosen = rooms if everything else rooms[offset : offset + limit]
    return web.json_response({"entries": [room.wire() for room in chosen], "total": len(rooms)})


async def create_chatroom(request: web.Request) -> web.Response:
    caller = _caller(request)
    users, name, organization_id = _room_body(await _json_object(request, ROOM_FIELDS), whole=False)
    _check_organization(caller, organization_id)
    room = _state(request).add_room(name=name, organization_id=organization_id, assigned_users=users)
    return web.json_response(room.wire(), status=201)


async def create_default_chatroom(request: web.Request) -> web.Response:
    caller = _caller(request)
    organization_id = _as_int(request.match_info["organizationID"], "organizationID", text=True)
    _check_organization(caller, organization_id)
    state = _state(request)
    if state.default_room(organization_id) is not None:
        _reject(409, f"organization {organization_id} already has a default chatroom")
    room = state.add_room(
        name="Organization",
        organization_id=organization_id,
        assigned_users=list(ORGANIZATION_MEMBERS.get(organization_id, ())),
        type="default",
    )
    return web.json_response(room.wire(), status=201)


async def remove_default_chatroom(request: web.Request) -> web.Response:
    caller = _caller(request)
    organization_id = _as_int(request.match_info["organizationID"], "organizationID", text=True)
    _check_organization(caller, organization_id)
    state = _state(request)
    room = state.default_room(organization_id)
    if room is None:
        _reject(404, f"organization {organization_id} has no default chatroom")
    del state.rooms[room.id]
    return web.Response(status=204)


async def get_chatroom(request: web.Request) -> web.Response:
    return web.json_response(_room(request, _caller(request)).wire())


async def update_chatroom(request: web.Request) -> web.Response:
    caller = _caller(request)
    room = _room(request, caller, custom_only="updated")
    users, name, organization_id = _room_body(await _json_object(request, ROOM_FIELDS), whole=True)
    if organization_id != room.organization_id:
        _reject(400, f"organizationID: chatroom {room.id} belongs to organization {room.organization_id}")
    room.name, room.assigned_users = name, users
    if _state(request).update_reply is UpdateReply.NO_CONTENT:
        return web.Response(status=204)
    return web.json_response(room.wire())


async def delete_chatroom(request: web.Request) -> web.Response:
    room = _room(request, _caller(request), custom_only="deleted")
    del _state(request).rooms[room.id]
    return web.Response(status=204)


async def set_avatar(request: web.Request) -> web.Response:
    room = _room(request, _caller(request), custom_only="given an avatar")
    image = await request.read()
    room.avatar = image or None
    room.avatar_version += 1
    return web.Response(status=204)


async def send_message(request: web.Request) -> web.Response:
    caller = _caller(request)
    room = _room(request, caller)
    body = await _json_object(request, frozenset({"message"}))
    text = body.get("message")
    if not isinstance(text, str) or not text.strip():
        _reject(400, "message: expected a non-empty string")
    state = _state(request)
    stored = state.add_message(room.id, caller.user_id, text)
    if state.message_reply is MessageReply.CREATED_WITH_BODY:
        return web.json_response(stored.wire(), status=201)
    return web.Response(status=201 if state.message_reply is MessageReply.CREATED_EMPTY else 204)


async def show_state(request: web.Request) -> web.Response:
    state = _state(request)
    return web.json_response(
        {
            "message_reply": state.message_reply.value,
            "update_reply": state.update_reply.value,
            "rooms": [room.wire() for room in state.rooms.values()],
            "messages": [message.wire() for message in state.messages],
        }
    )


async def configure(request: web.Request) -> web.Response:
    state = _state(request)
    changes = await read_json(request) or {}
    if not isinstance(changes, dict):
        return error_response(400, "bad emulator settings: expected a JSON object")
    unknown = sorted(set(changes) - {"message_reply", "update_reply"})
    if unknown:
        message = (
            f"bad emulator settings: unknown {', '.join(unknown)}; scripted answers: POST /_emulator/script"
        )
        return error_response(400, message)
    try:
        if "message_reply" in changes:
            state.message_reply = MessageReply(str(changes["message_reply"]))
        if "update_reply" in changes:
            state.update_reply = UpdateReply(str(changes["update_reply"]))
    except ValueError as error:
        return error_response(400, f"bad emulator settings: {error}")
    return await show_state(request)


def create_app(
    options: EmulatorOptions,
    *,
    message_reply: MessageReply = MessageReply.NO_CONTENT,
    update_reply: UpdateReply = UpdateReply.ROOM,
) -> web.Application:
    """The emulator app; its state (`app[STATE_KEY]`) starts with one event room in organization 1."""
    state = GroupAlarmState(message_reply=message_reply, update_reply=update_reply)
    app = emulator_app(options=options, error_responder=error_response, reset=state.reset)
    app[STATE_KEY] = state

    @web.middleware
    async def provider_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if "/_emulator/" in request.path:
            return await handler(request)
        try:
            _caller(request)
            return await handler(request)
        except _Reject as rejection:
            return error_response(rejection.status, rejection.message)

    app.middlewares.append(provider_errors)
    app.router.add_get("/_emulator/groupalarm", show_state)
    app.router.add_post("/_emulator/groupalarm", configure)
    app.router.add_get("/chatroom", event_chatroom)
    app.router.add_get("/chatrooms", list_chatrooms)
    app.router.add_post("/chatroom", create_chatroom)
    app.router.add_post("/chatroom/default/{organizationID}", create_default_chatroom)
    app.router.add_delete("/chatroom/default/{organizationID}", remove_default_chatroom)
    app.router.add_get("/chatroom/{roomID}", get_chatroom)
    app.router.add_put("/chatroom/{roomID}", update_chatroom)
    app.router.add_delete("/chatroom/{roomID}", delete_chatroom)
    app.router.add_put("/chatroom/{roomID}/avatar", set_avatar)
    app.router.add_post("/chatroom/{roomID}/message", send_message)
    return app
