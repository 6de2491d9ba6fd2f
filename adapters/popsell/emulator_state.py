"""The Popsell emulator's memory (ambassadors, chatrooms, tokens) and its answer shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
from aiohttp import web

__all__ = [
    "FORBIDDEN",
    "PAGE_SIZE",
    "EmulatorState",
    "Pivot",
    "Room",
    "date_insert_text",
    "error_response",
    "invalid_response",
    "is_int",
    "page_json",
    "room_json",
]

PAGE_SIZE = 15
"""Items per page of every list (Laravel's default)."""

SEED_AMBASSADORS = (
    (1, "Alice", "Martin", "alice"),
    (2, "Bruno", "Costa", "bruno"),
    (3, "Chloe", "Dubois", "chloe"),
    (4, "Dario", "Rossi", "dario"),
)
SEED_BRAND_TAGS = ((1, (2, 3)),)

FORBIDDEN = "Forbidden - You don't have permission to access this route"


@attrs.define
class Pivot:
    """One ambassador's own state in one room."""

    last_read_message: int | None = None
    is_blocked: bool = False
    archived: bool = False


@attrs.define
class Room:
    """A chatroom and its messages, as the emulator keeps them."""

    id: int
    members: tuple[int, ...]
    type_chatroom: int
    type_discussion: int
    source: int
    date_insert: datetime
    pivots: dict[int, Pivot]
    last_message_date: datetime | None = None
    dialogue_at: datetime | None = None
    messages: list[dict[str, Any]] = attrs.field(factory=list)


@attrs.define
class EmulatorState:
    """Everything the emulator remembers; `reset` brings back the seeded state."""

    ambassadors: dict[int, dict[str, Any]] = attrs.field(factory=dict)
    brand_tags: dict[int, tuple[int, ...]] = attrs.field(factory=dict)
    rooms: dict[int, Room] = attrs.field(factory=dict)
    tokens: set[str] = attrs.field(factory=set)
    next_room_id: int = 1
    next_message_id: int = 1

    def __attrs_post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.ambassadors = {
            id_: {
                "id_ambassador": id_,
                "image": f"https://cdn.popsell.test/avatars/{id_}.png",
                "firstname": first,
                "lastname": last,
                "username": user,
                "email": f"{user}@popsell.test",
                "email_tmp": None,
                "active": 1,
                "status": 1,
                "online": False,
                "last_action_date": "2025-05-04T09:42:00Z",
                "customer_id": f"cus_{id_:04d}",
                "anonymized": False,
            }
            for id_, first, last, user in SEED_AMBASSADORS
        }
        self.brand_tags = dict(SEED_BRAND_TAGS)
        self.rooms.clear()
        self.tokens.clear()
        self.next_room_id = 1
        self.next_message_id = 1


def date_insert_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dialogue(moment: datetime | None) -> str | bool:
    if moment is None:
        return False
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def room_json(state: EmulatorState, room: Room) -> dict[str, Any]:
    ambassadors = []
    for member in room.members:
        pivot = room.pivots[member]
        pivot_json = {"id_chatroom": room.id, "id_ambassador": member, **attrs.asdict(pivot)}
        ambassadors.append({**state.ambassadors[member], "chatroom_pivot_data": [pivot_json]})
    return {
        "id_chatroom": room.id,
        "ambassadors": ambassadors,
        "date_insert": date_insert_text(room.date_insert),
        "last_message_date": date_insert_text(room.last_message_date or room.date_insert),
        "type_chatroom": room.type_chatroom,
        "type_discussion": room.type_discussion,
        "source": room.source,
        "established_dialogue": _dialogue(room.dialogue_at),
        "last_rating": None,
        "last_summary": None,
    }


def page_json(request: web.Request, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Laravel's LengthAwarePaginator as JSON."""
    raw_page = request.query.get("page", "1")
    current = int(raw_page) if raw_page.isdigit() and int(raw_page) > 0 else 1
    last = max(1, -(-len(items) // PAGE_SIZE))
    start = (current - 1) * PAGE_SIZE
    chunk = items[start : start + PAGE_SIZE]
    path = str(request.url.with_query(None))

    def url(number: int) -> str:
        return f"{path}?page={number}"

    return {
        "current_page": current,
        "data": chunk,
        "first_page_url": url(1),
        "from": start + 1 if chunk else None,
        "last_page": last,
        "last_page_url": url(last),
        "next_page_url": url(current + 1) if current < last else None,
        "path": path,
        "per_page": PAGE_SIZE,
        "prev_page_url": url(current - 1) if current > 1 else None,
        "to": start + len(chunk) if chunk else None,
        "total": len(items),
    }


def error_response(status: int, message: str, retry_after: float | None = None) -> web.StreamResponse:
    """Popsell's errors: 401 `{message}`, 403 no body, 404 text, 422 `{message, errors}`, 429 Laravel's."""
    if status == 401:
        return web.json_response({"message": "Unauthorized."}, status=401)
    if status == 403:
        return web.Response(status=403)
    if status == 404:
        return web.Response(status=404, text=message or "Not Found")
    if status == 422:
        return web.json_response({"message": message, "errors": {}}, status=422)
    if status == 429:
        wait = max(1, round(retry_after)) if retry_after is not None else 1
        return web.json_response(
            {"message": "Too Many Attempts."}, status=429, headers={"Retry-After": str(wait)}
        )
    if status == 500:
        return web.json_response({"message": "Server Error."}, status=status)
    return web.json_response({"message": message}, status=status)


def invalid_response(errors: dict[str, list[str]]) -> web.Response:
    """Laravel's 422: the first message, `(and N more error)` as Popsell writes it, every field's reasons."""
    first = next(iter(errors.values()))[0]
    others = sum(len(reasons) for reasons in errors.values()) - 1
    message = f"{first} (and {others} more error)" if others else first
    return web.json_response({"message": message, "errors": errors}, status=422)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
