"""The admin JSON API (`/admin/api/...`): recent events, dead letters (list, replay, discard) and schedules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from framework import jsoncodec
from framework.admin.keys import RUNTIME_KEY
from framework.events import event_to_dict
from framework.json_answers import error_response
from framework.store.base import HistoryEntry, HistoryQuery

__all__ = ["MAX_DEAD_LETTERS", "Handler", "api_routes", "history_query", "query_int"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_DEAD_LETTERS = 1000
"""The most `GET /admin/api/dead-letters?limit=` lists at once."""
MAX_EVENTS = 1000
"""The most `GET /admin/api/events?limit=` lists at once."""


def query_int(request: web.Request, name: str, *, default: int, low: int, high: int) -> int:
    """An integer query value from `low` to `high`; anything else is a 400 naming the parameter and the range."""
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw.isascii() and raw.isdigit() and len(raw) <= len(str(high)) and low <= int(raw) <= high:
        return int(raw)
    detail = f"query parameter {name} must be an integer from {low} to {high}"
    raise web.HTTPBadRequest(
        text=jsoncodec.dumps_text({"error": "invalid_query", "detail": detail}),
        content_type="application/json",
    )


def history_query(request: web.Request, *, limit: int) -> HistoryQuery:
    """The event search of `?id=&type=&outcome=` (empty values match everything)."""
    return HistoryQuery(
        event_id=request.query.get("id", "").strip() or None,
        type=request.query.get("type", "").strip() or None,
        outcome=request.query.get("outcome", "").strip() or None,
        limit=limit,
    )


def _entry(entry: HistoryEntry) -> dict[str, object]:
    return {
        "event": event_to_dict(entry.event),
        "attempt": entry.attempt,
        "outcome": entry.outcome,
        "handled_at": entry.handled_at.isoformat(),
        "duration": entry.duration,
        "handlers": entry.handlers,
        "steps": entry.steps,
    }


async def events(request: web.Request) -> web.Response:
    """Finished attempts from the shared store, newest first; `?id=`, `?type=`, `?outcome=` search them."""
    limit = query_int(request, "limit", default=100, low=1, high=MAX_EVENTS)
    found = await request.app[RUNTIME_KEY].store.history(history_query(request, limit=limit))
    return web.json_response([_entry(entry) for entry in found])


async def recent(request: web.Request) -> web.Response:
    """The last 100 finished attempts in the short form of the first admin page."""
    found = await request.app[RUNTIME_KEY].store.history(HistoryQuery(limit=100))
    return web.json_response(
        [
            {
                "event_id": entry.event.id,
                "type": entry.event.type,
                "action": entry.outcome,
                "attempt": entry.attempt,
                "handlers": [n["handler"] for n in entry.handlers if n.get("outcome") == "ok"],
                "error": "; ".join(f"{n['handler']}: {n['error']}" for n in entry.handlers if "error" in n)
                or None,
            }
            for entry in found
        ]
    )


async def dead_letters(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", default=100, low=1, high=MAX_DEAD_LETTERS)
    letters = await request.app[RUNTIME_KEY].store.dead_letters(limit)
    return web.json_response(
        [
            {
                "event": event_to_dict(letter.event),
                "attempts": letter.attempts,
                "error": letter.error,
                "failed_at": letter.failed_at.isoformat(),
            }
            for letter in letters
        ]
    )


async def replay(request: web.Request) -> web.Response:
    event_id = request.match_info["event_id"]
    fresh = request.query.get("fresh", "false").lower()
    if fresh not in ("true", "false", "1", "0"):
        return error_response(400, "invalid_query", f"fresh: {fresh!r}; expected true or false")
    if not await request.app[RUNTIME_KEY].store.replay(event_id, fresh=fresh in ("true", "1")):
        return error_response(404, "not_found", f"no dead letter {event_id!r}")
    return web.json_response({"replayed": event_id, "fresh": fresh in ("true", "1")})


async def discard(request: web.Request) -> web.Response:
    event_id = request.match_info["event_id"]
    if not await request.app[RUNTIME_KEY].store.discard(event_id):
        return error_response(404, "not_found", f"no dead letter {event_id!r}")
    return web.json_response({"discarded": event_id})


async def schedules(request: web.Request) -> web.Response:
    """Every schedule with its next fire, soonest first (`paused` when paused); then the stored jobs that
    cannot be restored, each with `broken` (the error) and its stored next fire (they do not fire)."""
    service = request.app[RUNTIME_KEY].schedules
    rows = [] if service is None else await service.rows()
    answer: list[dict[str, object]] = []
    for row in rows:
        item: dict[str, object] = {
            "id": row.id,
            "next_fire": row.next_fire.isoformat() if row.next_fire else None,
        }
        if row.broken is not None:
            item["broken"] = row.broken
        elif row.paused:
            item["paused"] = True
        answer.append(item)
    return web.json_response(answer)


async def schedule_change(request: web.Request) -> web.Response:
    """`POST /admin/api/schedules/{id}/pause`, `.../resume` or `.../fire`."""
    service = request.app[RUNTIME_KEY].schedules
    schedule_id, change = request.match_info["schedule_id"], request.match_info["change"]
    if service is None:
        return error_response(404, "not_found", "this service runs without schedules")
    if change == "fire":
        event_id = await service.fire_now(schedule_id)
        if event_id is None:
            return error_response(404, "not_found", f"no schedule {schedule_id!r}")
        return web.json_response({"fired": schedule_id, "event_id": event_id})
    done = await (service.pause(schedule_id) if change == "pause" else service.resume(schedule_id))
    if not done:
        return error_response(404, "not_found", f"no schedule {schedule_id!r}")
    return web.json_response({change + "d": schedule_id})


def api_routes() -> list[tuple[str, str, Handler]]:
    """The API's routes (method, path within the admin app, handler)."""
    return [
        ("GET", "/api/recent", recent),
        ("GET", "/api/events", events),
        ("GET", "/api/dead-letters", dead_letters),
        ("POST", "/api/dead-letters/{event_id}/replay", replay),
        ("POST", "/api/dead-letters/{event_id}/discard", discard),
        ("GET", "/api/schedules", schedules),
        ("POST", r"/api/schedules/{schedule_id}/{change:pause|resume|fire}", schedule_change),
    ]
