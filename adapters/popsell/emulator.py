"""A local Popsell API v2 for tests and demos: token auth, chatrooms, messages, Popsell's answers and errors.

Credentials: `POST /auth/token` accepts only `TEST_API_KEY` (with any non-empty `X-Popsell-Domain`) and issues
tokens; every other call needs one of those tokens as `Authorization: Bearer ...` (else 401) and an integer
`X-Popsell-Brand` (any brand; else 403). Ambassadors 1-4 are seeded; brand tag 1 tags ambassadors 2 and 3.
Beside the kit's `/_emulator` routes and scripted answers (framework.emulation), which answer with Popsell's
error bodies, it serves `POST /_emulator/expire-tokens`: forget every issued token, so the next call is a 401.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import attrs
from aiohttp import web

from adapters.popsell.emulator_state import (
    FORBIDDEN,
    PAGE_SIZE,
    EmulatorState,
    Pivot,
    Room,
    date_insert_text,
    error_response,
    invalid_response,
    is_int,
    page_json,
    room_json,
)
from framework.adapter_registry import EmulatorOptions
from framework.emulation import PersonMessage, emulator_app, read_json

__all__ = [
    "PAGE_SIZE",
    "STATE_KEY",
    "TEST_API_KEY",
    "TEST_BRAND_ID",
    "TEST_DOMAIN",
    "EmulatorState",
    "create_app",
    "error_response",
]

TEST_API_KEY = "test-key"
"""The only api_key `POST /auth/token` accepts."""
TEST_DOMAIN = "demo.popsell.test"
"""A tenant domain for demos; any non-empty `X-Popsell-Domain` is accepted."""
TEST_BRAND_ID = 3
"""A brand id for demos; any integer `X-Popsell-Brand` is accepted."""

STATE_KEY = web.AppKey("popsell_state", EmulatorState)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _authorised(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The token and brand every call but `POST /auth/token` (and the admin routes) needs."""
    if "/_emulator/" in request.path or request.path.endswith("/auth/token"):
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or token not in request.app[STATE_KEY].tokens:
        return error_response(401, "Unauthorized.")
    if not request.headers.get("X-Popsell-Brand", "").strip().isdigit():
        return error_response(403, FORBIDDEN)
    return await handler(request)


async def issue_token(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    if not request.headers.get("X-Popsell-Domain", "").strip():
        return error_response(401, "Unauthorized.")
    body = await read_json(request)
    api_key = body.get("api_key") if isinstance(body, dict) else None
    if not isinstance(api_key, str) or not api_key:
        return invalid_response({"api_key": ["The api key field is required."]})
    if api_key != TEST_API_KEY:
        return error_response(401, "Unauthorized.")
    token = secrets.token_urlsafe(24)
    state.tokens.add(token)
    return web.json_response({"token": token})


def _create_errors(state: EmulatorState, body: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    ids, tag = body.get("ids_ambassadors"), body.get("id_brand_tag")
    if ids is not None and tag is not None:
        errors["ids_ambassadors"] = ["The ids ambassadors field prohibits id brand tag from being present."]
    elif ids is None and tag is None:
        errors["ids_ambassadors"] = [
            "The ids ambassadors field is required when id brand tag is not present."
        ]
    elif ids is not None:
        if not isinstance(ids, list) or len(ids) != 2:
            errors["ids_ambassadors"] = ["The ids ambassadors field must contain 2 items."]
        else:
            for index, value in enumerate(ids):
                if not is_int(value):
                    errors[f"ids_ambassadors.{index}"] = [
                        f"The ids_ambassadors.{index} field must be an integer."
                    ]
                elif value not in state.ambassadors:
                    errors[f"ids_ambassadors.{index}"] = [f"The selected ids_ambassadors.{index} is invalid."]
    elif not is_int(tag) or tag not in state.brand_tags:
        errors["id_brand_tag"] = ["The selected id brand tag is invalid."]
    source = body.get("source")
    if source is None:
        errors["source"] = ["The source field is required."]
    elif not is_int(source) or source not in (0, 1, 2):
        errors["source"] = ["The selected source is invalid."]
    return errors


async def create_chatroom(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    body = await read_json(request)
    errors = _create_errors(state, body if isinstance(body, dict) else {})
    if errors:
        return invalid_response(errors)
    assert isinstance(body, dict)
    by_tag = body.get("id_brand_tag") is not None
    members = state.brand_tags[body["id_brand_tag"]] if by_tag else tuple(body["ids_ambassadors"])
    room = Room(
        id=state.next_room_id,
        members=members,
        type_chatroom=7 if by_tag else 0,
        type_discussion=2 if by_tag else 0,
        source=body["source"],
        date_insert=datetime.now(UTC),
        pivots={member: Pivot() for member in members},
    )
    state.rooms[room.id] = room
    state.next_room_id += 1
    return web.json_response(room_json(state, room), status=201)


def _room(request: web.Request) -> Room:
    room_id = request.match_info["chatroom"]
    room = request.app[STATE_KEY].rooms.get(int(room_id)) if room_id.isdigit() else None
    if room is None:
        raise web.HTTPNotFound(text="Chatroom not found.")
    return room


async def get_chatroom(request: web.Request) -> web.StreamResponse:
    return web.json_response(room_json(request.app[STATE_KEY], _room(request)))


async def ambassador_chatrooms(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    raw_id = request.match_info["ambassador"]
    if not raw_id.isdigit() or int(raw_id) not in state.ambassadors:
        return error_response(404, "Ambassador not found.")
    ambassador = int(raw_id)
    rooms = [room for room in state.rooms.values() if ambassador in room.members]
    archived = request.query.get("filter[archived]")
    if archived is not None:
        if archived.lower() not in ("0", "1", "true", "false"):
            return invalid_response({"filter.archived": ["The filter.archived field must be true or false."]})
        wanted = archived.lower() in ("1", "true")
        rooms = [room for room in rooms if room.pivots[ambassador].archived == wanted]
    kind = request.query.get("filter[type_chatroom]")
    if kind is not None:
        if not kind.isdigit():
            return invalid_response(
                {"filter.type_chatroom": ["The filter.type_chatroom field must be an integer."]}
            )
        rooms = [room for room in rooms if room.type_chatroom == int(kind)]
    return web.json_response(page_json(request, [room_json(state, room) for room in rooms]))


async def list_messages(request: web.Request) -> web.StreamResponse:
    return web.json_response(page_json(request, _room(request).messages))


async def post_message(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    room = _room(request)
    body = await read_json(request)
    body = body if isinstance(body, dict) else {}
    errors: dict[str, list[str]] = {}
    sender, kind, content = body.get("id_ambassador"), body.get("type_message"), body.get("content")
    if not is_int(sender):
        errors["id_ambassador"] = ["The id ambassador field is required and must be an integer."]
    if not is_int(kind):
        errors["type_message"] = ["The type message field is required and must be an integer."]
    elif kind == 0 and (not isinstance(content, str) or not content):
        errors["content"] = ["The content field is required when type message is 0."]
    if errors:
        return invalid_response(errors)
    if sender not in room.members or not isinstance(sender, int) or not isinstance(kind, int):
        return error_response(403, FORBIDDEN)
    return web.json_response(_add_message(state, room, sender, content, kind), status=201)


def _add_message(state: EmulatorState, room: Room, sender: int, content: Any, kind: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    author = {
        key: state.ambassadors[sender][key] for key in ("id_ambassador", "firstname", "lastname", "username")
    }
    message = {
        "id_message": state.next_message_id,
        "date_insert": date_insert_text(now),
        "author": {**author, "image": state.ambassadors[sender]["image"]},
        "content": content,
        "type_message": kind,
        "status_moderation": 0,
    }
    state.next_message_id += 1
    room.messages.append(message)
    room.last_message_date = now
    authors = {entry["author"]["id_ambassador"] for entry in room.messages}
    if room.dialogue_at is None and len(authors) >= 2:
        room.dialogue_at = now
    return message


async def person_writes(request: web.Request) -> web.StreamResponse:
    """`POST /_emulator/messages {chat_id, sender_id, text}`: an ambassador of the chatroom writes into it."""
    state = request.app[STATE_KEY]
    written = await PersonMessage.read(request)
    room_id = max(state.rooms, default=None) if written.latest else written.chat_id
    room = state.rooms.get(int(room_id)) if room_id is not None and str(room_id).isdigit() else None
    if room is None:
        raise web.HTTPNotFound(text=f"no chatroom {written.chat_id}")
    sender = int(written.sender_id) if written.sender_id.isdigit() else None
    if sender is None or sender not in room.members:
        raise web.HTTPForbidden(text=f"ambassador {written.sender_id} is not in chatroom {room.id}")
    return web.json_response({"message": _add_message(state, room, sender, written.text, 0)}, status=201)


async def change_pivot(request: web.Request) -> web.StreamResponse:
    """`PATCH .../archive {archive}`, `PATCH .../block {is_blocked}`, `POST .../read`."""
    room = _room(request)
    raw_id = request.match_info["ambassador"]
    pivot = room.pivots.get(int(raw_id)) if raw_id.isdigit() else None
    if pivot is None:
        return error_response(404, "Ambassador not found in this chatroom.")
    action = request.match_info["action"]
    if action == "read":
        pivot.last_read_message = room.messages[-1]["id_message"] if room.messages else None
        return web.Response(status=204)
    field = "archive" if action == "archive" else "is_blocked"
    body = await read_json(request)
    value = body.get(field) if isinstance(body, dict) else None
    if value not in (True, False):  # Laravel's boolean rule: true, false, 1, 0
        return invalid_response({field: [f"The {field.replace('_', ' ')} field must be true or false."]})
    if action == "archive":
        pivot.archived = bool(value)
    else:
        pivot.is_blocked = bool(value)
    return web.json_response({"id_chatroom": room.id, "id_ambassador": int(raw_id), **attrs.asdict(pivot)})


async def expire_tokens(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    expired = len(state.tokens)
    state.tokens.clear()
    return web.json_response({"expired": expired})


def create_app(options: EmulatorOptions) -> web.Application:
    """The Popsell emulator: the kit's recording and faults, Popsell's routes, and the test admin routes."""
    state = EmulatorState()
    app = emulator_app(options=options, error_responder=error_response, reset=state.reset)
    app.middlewares.append(_authorised)
    app[STATE_KEY] = state
    router = app.router
    router.add_post("/auth/token", issue_token)
    router.add_post("/chat/chatrooms", create_chatroom)
    router.add_get("/chat/chatrooms/{chatroom}", get_chatroom)
    router.add_get("/chat/ambassadors/{ambassador}/chatrooms", ambassador_chatrooms)
    router.add_get("/chat/chatrooms/{chatroom}/messages", list_messages)
    router.add_post("/chat/chatrooms/{chatroom}/messages", post_message)
    pivot_path = "/chat/chatrooms/{chatroom}/ambassadors/{ambassador}/{action:archive|block}"
    router.add_patch(pivot_path, change_pivot)
    router.add_post("/chat/chatrooms/{chatroom}/ambassadors/{ambassador}/{action:read}", change_pivot)
    router.add_post("/_emulator/expire-tokens", expire_tokens)
    router.add_post("/_emulator/messages", person_writes)
    return app
