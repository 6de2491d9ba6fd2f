"""RoostedHR API 1_12 as a local aiohttp app (chats and messages of seeded workers) for tests and demos.

Credentials: `X-API-KEY: test-key` (TEST_API_KEY) may do everything; `read-only-key` may read but gets
403 on writes; anything else is 401 `{"message": ...}`. The path's worker id must be one of SEED_WORKERS.
Beside the emulator kit's `/_emulator` routes and scripted answers (framework.emulation), which answer with
RoostedHR's error body, it serves `GET /_emulator/workers` and `POST /_emulator/messages` (a worker writes into a chat).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from aiohttp import web

from framework.adapter_registry import EmulatorOptions
from framework.emulation import PersonMessage, emulator_app, read_json

from .emulator_state import EmulatedWorker, RoostedState, StoredChat

__all__ = [
    "MAX_LIMIT",
    "READ_ONLY_API_KEY",
    "SEED_WORKERS",
    "STATE_KEY",
    "TEST_API_KEY",
    "TEST_WORKER_ID",
    "create_app",
    "error_response",
]

TEST_API_KEY = "test-key"
READ_ONLY_API_KEY = "read-only-key"
TEST_WORKER_ID = "3158"
SEED_WORKERS: dict[str, EmulatedWorker] = {
    worker.id: worker
    for worker in (
        EmulatedWorker("3158", "Chris", "Davis", "example/1"),
        EmulatedWorker("120915", "Aaron", "Labrado", "example/2"),
        EmulatedWorker("2041", "Maria", "Lopez", "example/3"),
        EmulatedWorker("5377", "Priya", "Shah", "example/4"),
        EmulatedWorker("8812", "Tom", "Becker", "example/5"),
    )
}
DEFAULT_LIMIT = 20
MAX_LIMIT = 100

STATE_KEY = web.AppKey("roostedhr_state", RoostedState)

ProviderHandler = Callable[[web.Request, RoostedState, EmulatedWorker], Awaitable[web.Response]]


class _Reject(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, retry_after: float | None = None) -> web.Response:
    """RoostedHR's error answer: `{"message": ...}`, with Retry-After (whole seconds) when given."""
    headers = {"Retry-After": str(max(0, round(retry_after)))} if retry_after is not None else None
    return web.json_response({"message": message}, status=status, headers=headers)


def _authenticate(request: web.Request, *, write: bool) -> None:
    key = request.headers.get("X-API-KEY", "")
    if not key:
        raise _Reject(401, "Unauthorized: missing X-API-KEY header")
    if key not in (TEST_API_KEY, READ_ONLY_API_KEY):
        raise _Reject(401, "Unauthorized: invalid API key")
    if write and key == READ_ONLY_API_KEY:
        raise _Reject(403, "Forbidden: this API key may not modify chats")


def _provider_route(
    handler: ProviderHandler, *, write: bool = False
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def route(request: web.Request) -> web.Response:
        state = request.app[STATE_KEY]
        try:
            _authenticate(request, write=write)
            worker = state.workers.get(request.match_info["worker_id"])
            if worker is None:
                raise _Reject(404, f"Worker {request.match_info['worker_id']} not found")
            return await handler(request, state, worker)
        except _Reject as rejected:
            return error_response(rejected.status, rejected.message)

    return route


async def _json_object(request: web.Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise _Reject(400, "The request body must be a JSON object")
    return body


def _members(state: RoostedState, body: dict[str, Any]) -> list[str]:
    members = body["members"]
    if not isinstance(members, list) or not all(isinstance(item, str) and item for item in members):
        raise _Reject(422, "The members field must be an array of worker IDs (strings)")
    unknown = [item for item in members if item not in state.workers]
    if unknown:
        raise _Reject(422, f"Unknown worker ID(s) in members: {', '.join(unknown)}")
    return list(dict.fromkeys(members))


def _name(body: dict[str, Any]) -> str:
    name = body["name"]
    if not isinstance(name, str) or not name.strip():
        raise _Reject(422, "The name field must be a non-empty string")
    return name


def _chat_for(state: RoostedState, worker: EmulatedWorker, chat_id: str) -> StoredChat:
    chat = state.chats.get(chat_id)
    if chat is None:
        raise _Reject(404, "Chat not found")
    if worker.id not in chat.members:
        raise _Reject(403, f"Worker {worker.id} is not a member of this chat")
    return chat


def _page_args(request: web.Request) -> tuple[int, str | None]:
    raw_limit = request.query.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        if not raw_limit.isdigit() or int(raw_limit) < 1:
            raise _Reject(422, "The limit field must be a positive integer")
        limit = min(int(raw_limit), MAX_LIMIT)
    return limit, request.query.get("last_seen_id")


def _after_cursor(ids: list[str], last_seen_id: str | None, what: str) -> int:
    if last_seen_id is None:
        return 0
    if last_seen_id not in ids:
        raise _Reject(422, f"last_seen_id does not match a {what}")
    return ids.index(last_seen_id) + 1


async def _list_chats(request: web.Request, state: RoostedState, worker: EmulatedWorker) -> web.Response:
    all_chats_text = request.query.get("all_chats", "false").lower()
    if all_chats_text not in ("true", "false", "1", "0"):
        raise _Reject(422, "The all_chats field must be a boolean")
    all_chats = all_chats_text in ("true", "1")
    term = request.query.get("search_term", "").strip().lower()
    matching = [
        chat
        for chat in reversed(state.chats.values())
        if (all_chats or worker.id in chat.members) and term in chat.name.lower()
    ]
    # `chats_order` is documented as the sort timestamp; the most recently active chat comes first (and of
    # chats active at the same moment, the newest).
    chats = sorted(matching, key=lambda chat: chat.last_active, reverse=True)
    limit, last_seen_id = _page_args(request)
    start = _after_cursor([chat.id for chat in chats], last_seen_id, "chat")
    page = chats[start : start + limit]
    return web.json_response(
        {
            "chats": [state.render_chat(chat, worker.id, as_list_item=True) for chat in page],
            "has_more": start + limit < len(chats),
        }
    )


async def _create_chat(request: web.Request, state: RoostedState, worker: EmulatedWorker) -> web.Response:
    body = await _json_object(request)
    if "members" not in body:
        raise _Reject(422, "The members field is required")
    members = _members(state, body)
    name = _name(body) if "name" in body else None
    chat = state.create_chat(worker.id, members, name)
    return web.json_response(state.render_chat(chat, worker.id), status=201)


async def _get_chat(request: web.Request, state: RoostedState, worker: EmulatedWorker) -> web.Response:
    chat = _chat_for(state, worker, request.match_info["chat_id"])
    return web.json_response(state.render_chat(chat, worker.id))


async def _update_chat(request: web.Request, state: RoostedState, worker: EmulatedWorker) -> web.Response:
    chat = _chat_for(state, worker, request.match_info["chat_id"])
    body = await _json_object(request)
    if "name" not in body and "members" not in body:
        raise _Reject(422, "Provide name and/or members to update")
    name = _name(body) if "name" in body else None
    members = _members(state, body) if "members" in body else None
    if name is not None:
        chat.name = name
    if members is not None:
        chat.members = members
    return web.json_response(state.render_chat(chat, worker.id))


async def _list_messages(request: web.Request, state: RoostedState, worker: EmulatedWorker) -> web.Response:
    chat = _chat_for(state, worker, request.match_info["chat_id"])
    messages = list(reversed(chat.messages))
    limit, last_seen_id = _page_args(request)
    start = _after_cursor([message.id for message in messages], last_seen_id, "message")
    page = messages[start : start + limit]
    answer = {
        "messages": [state.render_message(message, worker.id) for message in page],
        "has_more": start + limit < len(messages),
    }
    for message in page:
        message.read_by.add(worker.id)
    return web.json_response(answer)


async def _post_message(request: web.Request, state: RoostedState, worker: EmulatedWorker) -> web.Response:
    chat = _chat_for(state, worker, request.match_info["chat_id"])
    body = await _json_object(request)
    text = body.get("message")
    if text is None:
        raise _Reject(422, "The message field is required")
    if not isinstance(text, str) or not text.strip():
        raise _Reject(422, "The message field must be a non-empty string")
    message = state.add_message(chat, worker.id, text)
    return web.json_response(state.render_message(message, worker.id), status=201)


async def _workers(request: web.Request) -> web.Response:
    return web.json_response([attrs.asdict(worker) for worker in request.app[STATE_KEY].workers.values()])


async def _person_writes(request: web.Request) -> web.Response:
    """`POST /_emulator/messages {chat_id, sender_id, text}`: a member of the chat writes into it."""
    state = request.app[STATE_KEY]
    written = await PersonMessage.read(request)
    chat = next(reversed(state.chats.values()), None) if written.latest else state.chats.get(written.chat_id)
    if chat is None:
        raise web.HTTPNotFound(text=f"no chat {written.chat_id}")
    if written.sender_id not in chat.members:
        raise web.HTTPForbidden(text=f"worker {written.sender_id} is not a member of chat {chat.id}")
    message = state.add_message(chat, written.sender_id, written.text)
    return web.json_response({"message": state.render_message(message, written.sender_id)}, status=201)


def create_app(options: EmulatorOptions) -> web.Application:
    """The RoostedHR emulator: provider routes at `/workers/...` plus the emulator kit's fault injection."""
    state = RoostedState(seed_workers=SEED_WORKERS, seed=options.seed)
    app = emulator_app(options=options, error_responder=error_response, reset=state.reset)
    app[STATE_KEY] = state
    chats = "/workers/{worker_id}/chats"
    app.router.add_get(chats, _provider_route(_list_chats))
    app.router.add_post(chats, _provider_route(_create_chat, write=True))
    app.router.add_get(chats + "/{chat_id}", _provider_route(_get_chat))
    app.router.add_patch(chats + "/{chat_id}", _provider_route(_update_chat, write=True))
    app.router.add_get(chats + "/{chat_id}/messages", _provider_route(_list_messages))
    app.router.add_post(chats + "/{chat_id}/messages", _provider_route(_post_message, write=True))
    app.router.add_get("/_emulator/workers", _workers)
    app.router.add_post("/_emulator/messages", _person_writes)
    return app
