"""DevRev as a local aiohttp app (chats and timeline comments), for tests and `chatwright emulate`.

Valid credentials are the tokens in `TOKENS` below: `TEST_TOKEN` authenticates `TEST_USER_ID`; any other
token is answered DevRev's 401 body. The emulator kit (`framework.emulation`) adds its `/_emulator` routes,
faults and scripted answers, which answer with DevRev's error body, and `POST /_emulator/messages` (a user
comments on a DM) and `/_emulator/webhook` (where comments are sent as signed webhooks: emulator_webhooks).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from framework.adapter_registry import EmulatorOptions
from framework.emulation import PersonMessage, emulator_app, read_json

from .client import BODY_TYPES, MAX_ARTIFACTS, MAX_RECORDS, MAX_USERS, VISIBILITIES
from .emulator_state import ChatRecord, DevRevState, DevUser, decode_cursor, encode_cursor
from .emulator_webhooks import WebhookSender

__all__ = [
    "DEV_USERS",
    "RATE_LIMIT",
    "RATE_WINDOW",
    "STATE_KEY",
    "TEST_TOKEN",
    "TEST_USER_ID",
    "TOKENS",
    "WEBHOOK_KEY",
    "create_app",
    "error_response",
]

DEV_USERS = (
    DevUser(number=1, full_name="Chatwright Bot", email="bot@example.com"),
    DevUser(number=2, full_name="Grace Hopper", email="grace@example.com"),
    DevUser(number=3, full_name="Alan Turing", email="alan@example.com"),
    DevUser(number=4, full_name="Ada Lovelace", email="ada@example.com"),
)
TEST_TOKEN = "test-token"
TEST_USER_ID = DEV_USERS[0].id
"""`don:identity:dvrv-us-1:devo/0:devu/1`, the dev user `TEST_TOKEN` acts as."""
TOKENS = {TEST_TOKEN: DEV_USERS[0].id, "test-token-2": DEV_USERS[1].id, "test-token-3": DEV_USERS[2].id}
RATE_LIMIT = 1000
"""Requests per user per window, as in the `X-Ratelimit-*` headers."""
RATE_WINDOW = 300.0
"""DevRev's rate-limit window resets every 5 minutes."""
DEFAULT_LIMIT = 50

STATE_KEY = web.AppKey("devrev_state", DevRevState)
WEBHOOK_KEY = web.AppKey("devrev_webhook", WebhookSender)

_ERROR_TYPES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}

Route = Callable[[web.Request, DevRevState, str], Awaitable[web.StreamResponse]]


def error_response(
    status: int,
    message: str,
    *,
    kind: str | None = None,
    retry_after: float | None = None,
    field_name: str | None = None,
) -> web.Response:
    """DevRev's error answer `{type, message, detail}` plus its type's own fields."""
    kind = kind or _ERROR_TYPES.get(status) or ("internal_error" if status >= 500 else "bad_request")
    body: dict[str, Any] = {"type": kind, "message": message, "detail": message}
    headers: dict[str, str] = {}
    if field_name is not None:
        body["field_name"] = field_name
    if kind == "too_many_requests":
        wait = max(1, round(retry_after if retry_after is not None else 1))
        body["retry_after"] = wait
        headers["Retry-After"] = str(wait)
    if kind == "internal_error":
        body["reference_id"] = uuid.uuid4().hex
    return web.json_response(body, status=status, headers=headers)


def _kit_error(status: int, message: str, retry_after: float | None) -> web.StreamResponse:
    return error_response(status, message, retry_after=retry_after)


class _Rejected(Exception):
    """A request DevRev would refuse; turned into its error body by `_provider_route`."""

    def __init__(self, status: int, kind: str, message: str, field_name: str | None = None) -> None:
        super().__init__(message)
        self.response = error_response(status, message, kind=kind, field_name=field_name)


def _missing(field: str) -> _Rejected:
    return _Rejected(400, "missing_required_field", f"{field} is required", field)


def _invalid(field: str, why: str) -> _Rejected:
    return _Rejected(400, "invalid_field", f"{field}: {why}", field)


async def _json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    body = await read_json(request)
    if not isinstance(body, dict):
        raise _Rejected(400, "parse_error", "the request body must be a JSON object")
    return body


def _string(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise _invalid(field, "expected a string")
    return value


def _required(body: dict[str, Any], field: str) -> str:
    value = _string(body, field)
    if not value:
        raise _missing(field)
    return value


def _boolean(body: dict[str, Any], field: str) -> bool | None:
    value = body.get(field)
    if value is not None and not isinstance(value, bool):
        raise _invalid(field, "expected a boolean")
    return value


def _choice(body: dict[str, Any], field: str, allowed: frozenset[str]) -> str | None:
    value = _string(body, field)
    if value is not None and value not in allowed:
        raise _invalid(field, f"expected one of {', '.join(sorted(allowed))}")
    return value


def _strings(value: Any, field: str, *, minimum: int = 0, maximum: int | None = None) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise _invalid(field, "expected an array of ids")
    if len(value) < minimum or (maximum is not None and len(value) > maximum):
        raise _invalid(field, f"expected {minimum}..{maximum} items, got {len(value)}")
    return list(dict.fromkeys(value))


def _users(state: DevRevState, value: Any, field: str = "users") -> list[str]:
    refs = _strings(value, field, minimum=1, maximum=MAX_USERS)
    users: list[str] = []
    for ref in refs:
        user = state.resolve_user(ref)
        if user is None:
            raise _invalid(field, f"{ref!r} is not a dev user id")
        users.append(user)
    return list(dict.fromkeys(users))


def _set_of(body: dict[str, Any], field: str) -> Any:
    """The `set` list of an update's `{set: [...]}` object, or None when the field is absent."""
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, dict) or "set" not in value:
        raise _invalid(field, "expected an object {set: [...]}")
    return value["set"]


def _dm_type(body: dict[str, Any]) -> None:
    if _string(body, "type") not in (None, "dm"):
        raise _invalid("type", "expected dm")


def _chat_or_404(state: DevRevState, ref: str) -> ChatRecord:
    chat = state.find_chat(ref)
    if chat is None:
        raise _Rejected(404, "not_found", f"chat {ref} not found")
    return chat


def _provider_route(handler: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Auth, then the per-user rate limit, then the handler with its caller."""

    async def route(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE_KEY]
        caller = state.caller(request.headers.get("Authorization"))
        if caller is None:
            return error_response(401, "Authentication token is missing or invalid")
        wait = state.spend(caller, time.time())
        if wait is not None:
            return error_response(429, "Rate limit exceeded", retry_after=wait)
        try:
            return await handler(request, state, caller)
        except _Rejected as rejected:
            return rejected.response

    return route


async def _create_chat(request: web.Request, state: DevRevState, caller: str) -> web.StreamResponse:
    body = await _json_object(request)
    _dm_type(body)
    if "users" not in body:
        raise _missing("users")
    users = _users(state, body["users"])
    title = _string(body, "title")
    get_if_conflict = _boolean(body, "get_if_conflict") or False
    is_default = _boolean(body, "is_default")
    records = _strings(body.get("records") or [], "records", maximum=MAX_RECORDS)
    if caller not in users:
        raise _Rejected(403, "forbidden", "the authenticated user must be included in users")
    if is_default is not False:
        existing = state.default_dm(users)
        if existing is not None:
            if not get_if_conflict:
                raise _Rejected(409, "conflict", "a default DM already exists for these users")
            return web.json_response({"chat": state.chat_json(existing)}, status=200)
    chat = state.add_chat(caller, users, title, records, is_default is not False)
    return web.json_response({"chat": state.chat_json(chat)}, status=201)


async def _get_chat_query(request: web.Request, state: DevRevState, caller: str) -> web.StreamResponse:
    ref = request.query.get("id")
    if not ref:
        raise _missing("id")
    return web.json_response({"chat": state.chat_json(_chat_or_404(state, ref))})


async def _get_chat_body(request: web.Request, state: DevRevState, caller: str) -> web.StreamResponse:
    body = await _json_object(request)
    _dm_type(body)
    ref = _string(body, "id")
    if ref is not None and "users" in body:
        raise _Rejected(400, "bad_request", "give either id or users, not both")
    if ref is not None:
        return web.json_response({"chat": state.chat_json(_chat_or_404(state, ref))})
    if "users" not in body:
        raise _missing("id")
    chat = state.default_dm(_users(state, body["users"]))
    if chat is None:
        raise _Rejected(404, "not_found", "no DM exists for these users")
    return web.json_response({"chat": state.chat_json(chat)})


async def _update_chat(request: web.Request, state: DevRevState, caller: str) -> web.StreamResponse:
    body = await _json_object(request)
    _dm_type(body)
    ref = _required(body, "id")
    title = _string(body, "title")
    users_set = _set_of(body, "users")
    users = None if users_set is None else _users(state, users_set)
    records_set = _set_of(body, "records")
    records = None if records_set is None else _strings(records_set, "records", maximum=MAX_RECORDS)
    chat = _chat_or_404(state, ref)
    if title is not None:
        chat.title = title
    if users is not None:
        chat.users = users
    if records is not None:
        chat.records = records
    chat.modified_by = caller
    chat.modified = datetime.now(UTC)
    return web.json_response({"chat": state.chat_json(chat)})


async def _create_entry(request: web.Request, state: DevRevState, caller: str) -> web.StreamResponse:
    body = await _json_object(request)
    if _required(body, "type") != "timeline_comment":
        raise _invalid("type", "expected timeline_comment")
    ref = _required(body, "object")
    text = _string(body, "body")
    body_type = _choice(body, "body_type", BODY_TYPES) or "text"
    visibility = _choice(body, "visibility", VISIBILITIES) or "external"
    if "private_to" in body:
        _strings(body["private_to"], "private_to")
    if "artifacts" in body:
        _strings(body["artifacts"], "artifacts", maximum=MAX_ARTIFACTS)
    chat = state.find_chat(ref)
    if chat is None:
        raise _Rejected(404, "not_found", f"object {ref} not found")
    entry = state.add_comment(caller, chat, text, body_type, visibility)
    shape = state.entry_json(entry)
    request.app[WEBHOOK_KEY].send_later(shape)
    return web.json_response({"timeline_entry": shape}, status=201)


async def _person_writes(request: web.Request) -> web.StreamResponse:
    """`POST /_emulator/messages {chat_id, sender_id, text}`: a user of the DM comments on it, and the
    configured webhook is sent before the answer `{timeline_entry, webhook_status}`."""
    state = request.app[STATE_KEY]
    written = await PersonMessage.read(request)
    chat = next(reversed(state.chats.values()), None) if written.latest else state.find_chat(written.chat_id)
    if chat is None:
        raise web.HTTPNotFound(text=f"no DM {written.chat_id}")
    sender = state.resolve_user(written.sender_id)
    if sender is None or sender not in chat.users:
        raise web.HTTPForbidden(text=f"{written.sender_id} is not a user of {chat.id}")
    shape = state.entry_json(state.add_comment(sender, chat, written.text))
    delivery = await request.app[WEBHOOK_KEY].send(shape)
    answer = {"timeline_entry": shape, "webhook_status": None if delivery is None else delivery.status}
    return web.json_response(answer, status=201)


async def _set_webhook(request: web.Request) -> web.StreamResponse:
    """`POST /_emulator/webhook {url, secret}`: where comments are sent (an empty url stops them)."""
    body = await read_json(request)
    url, secret = (body.get("url"), body.get("secret")) if isinstance(body, dict) else (None, None)
    if (url is not None and not isinstance(url, str)) or (url and not isinstance(secret, str)):
        raise web.HTTPBadRequest(text="expected {url, secret}: strings")
    request.app[WEBHOOK_KEY].configure(url, secret or "")
    return web.json_response({"url": url or None})


async def _webhook_deliveries(request: web.Request) -> web.StreamResponse:
    sender = request.app[WEBHOOK_KEY]
    deliveries = [{"entry_id": d.entry_id, "status": d.status} for d in sender.deliveries]
    return web.json_response({"url": sender.url, "deliveries": deliveries})


async def _list_entries(request: web.Request, state: DevRevState, caller: str) -> web.StreamResponse:
    body = await _json_object(request)
    ref = _required(body, "object")
    limit = body.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise _invalid("limit", "expected a positive integer")
    chat = state.find_chat(ref)
    if chat is None:
        raise _Rejected(404, "not_found", f"object {ref} not found")
    cursor = _string(body, "cursor")
    offset = 0 if cursor is None else decode_cursor(chat.id, cursor)
    if offset is None:
        raise _invalid("cursor", "not a cursor from a previous page of this object")
    entries = state.timelines[chat.id]
    page: dict[str, Any] = {
        "timeline_entries": [state.entry_json(e) for e in entries[offset : offset + limit]]
    }
    if offset + limit < len(entries):
        page["next_cursor"] = encode_cursor(chat.id, offset + limit)
    if offset > 0:
        page["prev_cursor"] = encode_cursor(chat.id, max(0, offset - limit))
    return web.json_response(page)


def create_app(options: EmulatorOptions) -> web.Application:
    """The DevRev emulator: documented endpoints, error bodies, rate-limit headers and the kit's faults."""
    state = DevRevState(tokens=TOKENS, seed_users=DEV_USERS, rate_limit=RATE_LIMIT, rate_window=RATE_WINDOW)
    webhooks = WebhookSender()

    def reset() -> None:
        state.reset()
        webhooks.reset()

    app = emulator_app(options=options, error_responder=_kit_error, reset=reset)
    app[STATE_KEY] = state
    app[WEBHOOK_KEY] = webhooks

    async def close_webhooks(_: web.Application) -> None:
        await webhooks.close()

    app.on_cleanup.append(close_webhooks)

    async def rate_headers(request: web.Request, response: web.StreamResponse) -> None:
        if "/_emulator" not in request.path:
            caller = state.caller(request.headers.get("Authorization"))
            response.headers.update(state.rate_headers(caller, time.time()))

    app.on_response_prepare.append(rate_headers)
    app.router.add_post("/chats.create", _provider_route(_create_chat))
    app.router.add_get("/chats.get", _provider_route(_get_chat_query))
    app.router.add_post("/chats.get", _provider_route(_get_chat_body))
    app.router.add_post("/chats.update", _provider_route(_update_chat))
    app.router.add_post("/timeline-entries.create", _provider_route(_create_entry))
    app.router.add_post("/timeline-entries.list", _provider_route(_list_entries))
    app.router.add_post("/_emulator/messages", _person_writes)
    app.router.add_post("/_emulator/webhook", _set_webhook)
    app.router.add_get("/_emulator/webhook", _webhook_deliveries)
    return app
