"""The service: the aiohttp app serving webhook routes, health, metrics and the admin API around a Runtime."""

from __future__ import annotations

import errno
import html
import logging
import socket

import attrs
from aiohttp import web

from framework import jsoncodec
from framework.admin_access import AdminAccess
from framework.errors import ChatwrightError
from framework.events import event_to_dict
from framework.json_answers import add_json_fallbacks, error_response, json_errors_route, json_expect
from framework.metrics import Metrics
from framework.runtime import Runtime
from framework.schedules.broken_jobs import BrokenJob
from framework.schedules.service import NextFires
from framework.triggers.webhook_receiver import HANDLER_ARGS

__all__ = ["METRICS_KEY", "RUNTIME_KEY", "create_app", "listen_sockets"]

log = logging.getLogger("chatwright.service")

RUNTIME_KEY = web.AppKey("runtime", Runtime)
METRICS_KEY = web.AppKey("metrics", Metrics)

LINGERING_TIME = 2.0
"""Seconds the service goes on reading (and dropping) the rest of a body it refused (413, 408, 415), so that
its sender gets the answer before the connection closes; aiohttp's default is 10."""
MAX_DEAD_LETTERS = 1000
"""The most `GET /admin/api/dead-letters?limit=` lists at once."""


def listen_sockets(host: str, port: int, *, reuse_port: bool = False) -> list[socket.socket]:
    """Bind the service's address(es) - every address `host` resolves to, as aiohttp's own site would - before
    anything else starts: a process that cannot listen must touch no shared state (no schedules written, no
    inbox opened, no "ready"). Raises ChatwrightError naming the address when one cannot be bound. `reuse_port`:
    several processes bind the same address and the kernel spreads connections over them (framework.processes)."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as error:
        raise ChatwrightError(f"cannot listen on {host}:{port}: {error}") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's create_server does
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as error:
                why = "the address is already in use" if error.errno == errno.EADDRINUSE else error.strerror
                ip, bound_port = str(address[0]), int(address[1])
                where = f"[{ip}]:{bound_port}" if family == socket.AF_INET6 else f"{ip}:{bound_port}"
                raise ChatwrightError(
                    f"cannot listen on {where} (service.host {host!r}, port {port}): {why}; nothing was started"
                ) from None
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    if not runtime.ready:
        return web.json_response({"status": "starting"}, status=503)
    try:
        pending = await runtime.store.pending()
    except Exception as error:
        # Anyone may ask /readyz: the store's error (hosts, paths, credentials in URLs) goes to the log only.
        log.warning("/readyz: the store does not answer: %s: %s", type(error).__name__, error)
        return web.json_response({"status": "store unavailable"}, status=503)
    return web.json_response({"status": "ready", "pending": pending})


async def metrics(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    pending = await runtime.store.pending() if runtime.ready else 0
    text = request.app[METRICS_KEY].render(
        pending=pending,
        in_flight=runtime.worker.in_flight,
        ready=runtime.ready,
        handed_over=runtime.worker.handed_over,
        steps=None if runtime.steps is None else runtime.steps.counters,
        overloaded=runtime.webhooks.overloaded,
        unmatched=runtime.dispatcher.unmatched,
    )
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


def _query_int(request: web.Request, name: str, *, default: int, low: int, high: int) -> int:
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


async def dead_letters(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    limit = _query_int(request, "limit", default=100, low=1, high=MAX_DEAD_LETTERS)
    letters = await runtime.store.dead_letters(limit)
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
    runtime = request.app[RUNTIME_KEY]
    event_id = request.match_info["event_id"]
    fresh = request.query.get("fresh", "false").lower()
    if fresh not in ("true", "false", "1", "0"):
        return error_response(400, "invalid_query", f"fresh: {fresh!r}; expected true or false")
    if not await runtime.store.replay(event_id, fresh=fresh in ("true", "1")):
        return error_response(404, "not_found", f"no dead letter {event_id!r}")
    return web.json_response({"replayed": event_id, "fresh": fresh in ("true", "1")})


async def recent(request: web.Request) -> web.Response:
    return web.json_response([attrs.asdict(item) for item in request.app[METRICS_KEY].recent])


async def _schedule_overview(runtime: Runtime) -> tuple[NextFires, list[BrokenJob]]:
    """The schedules' next fires and broken jobs, read in a thread: the job store is synchronous (SQLite, Redis),
    and a slow read on the event loop would hold up every other request and the worker."""
    if runtime.schedules is None:
        return [], []
    return await runtime.schedules.overview()


async def schedules(request: web.Request) -> web.Response:
    """Every schedule with its next fire, soonest first; then the stored jobs that cannot be restored, each with
    `broken` (the error) and its stored next fire (they do not fire)."""
    fires, broken = await _schedule_overview(request.app[RUNTIME_KEY])
    return web.json_response(
        [{"id": i, "next_fire": when.isoformat() if when else None} for i, when in fires]
        + [
            {
                "id": job.id,
                "next_fire": job.next_run_time.isoformat() if job.next_run_time else None,
                "broken": job.error,
            }
            for job in broken
        ]
    )


async def admin_page(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    rows = "".join(
        f"<tr><td>{html.escape(r.event_id)}</td><td>{html.escape(r.type)}</td><td>{r.action}</td>"
        f"<td>{r.attempt}</td><td>{html.escape(r.error or '')}</td></tr>"
        for r in request.app[METRICS_KEY].recent
    )
    letters = await runtime.store.dead_letters(50)
    dead = "".join(
        f"<tr><td>{html.escape(d.event.id)}</td><td>{html.escape(d.event.type)}</td><td>{d.attempts}</td>"
        f"<td>{html.escape(d.error)}</td></tr>"
        for d in letters
    )
    fires, broken = await _schedule_overview(runtime)
    plan = "".join(
        f"<tr><td>{html.escape(i)}</td><td>{w.isoformat() if w else '-'}</td></tr>" for i, w in fires
    ) + "".join(
        f"<tr><td>{html.escape(job.id)}</td><td>broken, does not fire: {html.escape(job.error)}</td></tr>"
        for job in broken
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>chatwright</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;border-bottom:1px solid #ddd}}</style></head>
<body><h1>chatwright</h1>
<p>Dead letters can be replayed with <code>POST /admin/api/dead-letters/ID/replay</code>
or <code>chatwright replay CONFIG ID</code>.</p>
<h2>Recent events</h2><table><tr><th>id</th><th>type</th><th>outcome</th><th>attempt</th><th>error</th></tr>{rows}</table>
<h2>Dead letters</h2><table><tr><th>id</th><th>type</th><th>attempts</th><th>error</th></tr>{dead}</table>
<h2>Next schedule fires</h2><table><tr><th>schedule</th><th>next fire</th></tr>{plan}</table>
</body></html>"""
    return web.Response(text=page, content_type="text/html")


def create_app(runtime: Runtime) -> web.Application:
    """The service app; starting it starts the runtime, cleaning it up drains and stops it."""
    max_body = max([route.max_body_bytes for route in runtime.config.webhooks] or [1024 * 1024])
    # keepalive_timeout: aiohttp (3.14.4 and later) also closes a connection whose request line and headers
    # are not complete by then, so it is the bound on slow senders of headers too.
    handler_args = {
        **HANDLER_ARGS,
        "keepalive_timeout": runtime.config.service.idle_timeout,
        "lingering_time": LINGERING_TIME,
    }
    app = web.Application(client_max_size=max_body + 1, handler_args=handler_args)
    metrics_state = Metrics()
    runtime.worker.listeners.append(metrics_state.record)
    app[RUNTIME_KEY] = runtime
    app[METRICS_KEY] = metrics_state
    runtime.webhooks.add_to(app)
    admin = AdminAccess(runtime.config.service.admin_token, runtime.config.service.admin_open)
    for method, path, handler in [
        ("GET", "/healthz", healthz),
        ("GET", "/readyz", readyz),
        ("GET", "/metrics", metrics),
        ("GET", "/admin", admin.guard(admin_page)),
        ("GET", "/admin/api/recent", admin.guard(recent)),
        ("GET", "/admin/api/dead-letters", admin.guard(dead_letters)),
        ("POST", "/admin/api/dead-letters/{event_id}/replay", admin.guard(replay)),
        ("GET", "/admin/api/schedules", admin.guard(schedules)),
    ]:
        add = app.router.add_get if method == "GET" else app.router.add_post
        add(path, json_errors_route(handler), expect_handler=json_expect)
    add_json_fallbacks(app)  # after every route: JSON 405s and 404s without an app-wide middleware

    async def start(app: web.Application) -> None:
        await runtime.start()
        log.info(
            "ready: %d plugin(s), %d webhook route(s)", len(runtime.plugins), len(runtime.config.webhooks)
        )

    async def stop(app: web.Application) -> None:
        left = await runtime.stop()
        log.info("stopped; %d event(s) left in the inbox for the next start", left)

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app
