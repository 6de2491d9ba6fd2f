"""The console's views: server-rendered pages over the shared store (events, dead letters, schedules, handlers
and adapters) and the form actions that change things (replay, discard, pause, resume, fire now)."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from framework.admin.api import Handler, history_query, query_int
from framework.admin.guard import SESSION_COOKIE, AdminGuard
from framework.admin.keys import RUNTIME_KEY
from framework.admin.pages import render
from framework.admin.stats import adapter_stats, handler_stats
from framework.store.base import HistoryQuery

__all__ = ["GUARD_KEY", "console_routes"]

GUARD_KEY = web.AppKey("admin_guard", AdminGuard)

OUTCOMES = ("done", "retry", "dead")
STATS_WINDOW = 10_000
"""The newest finished attempts the handlers and adapters view computes its figures over."""
DEAD_LETTERS_SHOWN = 200


def _see_other(path: str, **notice: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(path + ("?" + urlencode(notice) if notice else ""))


async def events_view(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", default=100, low=1, high=1000)
    query = history_query(request, limit=limit)
    found = await request.app[RUNTIME_KEY].store.history(query)
    return render(
        request, "events.html", refresh=True, page="events", entries=found, query=query, outcomes=OUTCOMES
    )


async def event_view(request: web.Request) -> web.Response:
    event_id = request.match_info["event_id"]
    runtime = request.app[RUNTIME_KEY]
    attempts = await runtime.store.history(HistoryQuery(event_id=event_id, limit=100))
    letters = [d for d in await runtime.store.dead_letters(1000) if d.event.id == event_id]
    if not attempts and not letters:
        return render(request, "missing.html", status=404, page="events", what=f"event {event_id}")
    return render(
        request,
        "event.html",
        page="events",
        event_id=event_id,
        attempts=attempts,
        letter=letters[0] if letters else None,
    )


async def dead_letters_view(request: web.Request) -> web.Response:
    store = request.app[RUNTIME_KEY].store
    letters = await store.dead_letters(DEAD_LETTERS_SHOWN)
    # the traceback of each one's last attempt, from the history (one read, not one per letter)
    tracebacks: dict[str, list[dict[str, object]]] = {}
    for entry in await store.history(HistoryQuery(outcome="dead", limit=1000)):
        if entry.event.id not in tracebacks:
            tracebacks[entry.event.id] = [n for n in entry.handlers if n.get("outcome") == "failed"]
    return render(
        request,
        "dead_letters.html",
        refresh=True,
        page="dead",
        letters=letters,
        failures=tracebacks,
        notice=request.query.get("notice"),
    )


async def dead_letters_action(request: web.Request) -> web.StreamResponse:
    """Replay or discard the chosen dead letters: the first POST shows what it will do; the second, with
    `confirmed`, does it."""
    form = await request.post()
    action = str(form.get("action", ""))
    if action not in ("replay", "discard"):
        raise web.HTTPBadRequest(text="action must be replay or discard")
    ids = [str(value) for value in form.getall("id", [])]
    if not ids:
        raise _see_other("/admin/dead-letters", notice="Choose at least one dead letter.")
    fresh = form.get("fresh") == "1"
    if form.get("confirmed") != "yes":
        return render(request, "confirm.html", page="dead", action=action, ids=ids, fresh=fresh)
    store = request.app[RUNTIME_KEY].store
    done = 0
    for event_id in ids:
        if action == "replay":
            done += await store.replay(event_id, fresh=fresh)
        else:
            done += await store.discard(event_id)
    verb = "Replayed" if action == "replay" else "Discarded"
    raise _see_other("/admin/dead-letters", notice=f"{verb} {done} of {len(ids)} dead letter(s).")


async def schedules_view(request: web.Request) -> web.Response:
    service = request.app[RUNTIME_KEY].schedules
    rows = [] if service is None else await service.rows()
    return render(
        request,
        "schedules.html",
        refresh=True,
        page="schedules",
        rows=rows,
        enabled=service is not None,
        notice=request.query.get("notice"),
    )


async def schedule_action(request: web.Request) -> web.StreamResponse:
    service = request.app[RUNTIME_KEY].schedules
    schedule_id, change = request.match_info["schedule_id"], request.match_info["change"]
    if service is None:
        raise _see_other("/admin/schedules", notice="This service runs without schedules.")
    if change == "fire":
        event_id = await service.fire_now(schedule_id)
        notice = f"Fired {schedule_id}: event {event_id}." if event_id else f"No schedule {schedule_id}."
    else:
        done = await (service.pause(schedule_id) if change == "pause" else service.resume(schedule_id))
        notice = f"{change.capitalize()}d {schedule_id}." if done else f"No schedule {schedule_id}."
    raise _see_other("/admin/schedules", notice=notice)


async def handlers_view(request: web.Request) -> web.Response:
    entries = await request.app[RUNTIME_KEY].store.history(HistoryQuery(limit=STATS_WINDOW))
    return render(
        request,
        "handlers.html",
        refresh=True,
        page="handlers",
        handlers=handler_stats(entries),
        adapters=adapter_stats(entries),
        window=len(entries),
        oldest=entries[-1].handled_at if entries else None,
    )


async def login_view(request: web.Request) -> web.Response:
    return render(request, "refused.html", needs_login=True, error=None, page="login")


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    given = form.get("token")
    cookie = request.app[GUARD_KEY].session_cookie(given if isinstance(given, str) else "")
    if cookie is None:
        return render(
            request, "refused.html", status=401, needs_login=True, error="That is not the admin token."
        )
    response = web.Response(status=303, headers={"Location": "/admin/"})
    response.set_cookie(
        SESSION_COOKIE, cookie, path="/admin", httponly=True, samesite="Strict", secure=request.secure
    )
    return response


def console_routes() -> list[tuple[str, str, Handler]]:
    """The console's routes (method, path within the admin app, handler)."""
    return [
        ("GET", "/", events_view),
        ("GET", "/events", events_view),
        ("GET", "/events/{event_id}", event_view),
        ("GET", "/dead-letters", dead_letters_view),
        ("POST", "/dead-letters", dead_letters_action),
        ("GET", "/schedules", schedules_view),
        ("POST", r"/schedules/{schedule_id}/{change:pause|resume|fire}", schedule_action),
        ("GET", "/handlers", handlers_view),
        ("GET", "/login", login_view),
        ("POST", "/login", login),
    ]
