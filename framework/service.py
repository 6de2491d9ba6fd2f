"""The service: the aiohttp app serving webhook routes, health, metrics and the admin area around a Runtime."""

from __future__ import annotations

import errno
import logging
import socket

from aiohttp import web

from framework.admin.app import mount_admin
from framework.errors import ChatwrightError
from framework.json_answers import add_json_fallbacks, json_errors_route, json_expect
from framework.metrics import Metrics
from framework.runtime import Runtime
from framework.triggers.webhook_receiver import HANDLER_ARGS

__all__ = ["METRICS_KEY", "RUNTIME_KEY", "create_app", "listen_sockets"]

log = logging.getLogger("chatwright.service")

RUNTIME_KEY = web.AppKey("runtime", Runtime)
METRICS_KEY = web.AppKey("metrics", Metrics)

LINGERING_TIME = 2.0
"""Seconds the service goes on reading (and dropping) the rest of a body it refused (413, 408, 415), so that
its sender gets the answer before the connection closes; aiohttp's default is 10."""


def listen_sockets(host: str, port: int, *, reuse_port: bool = False) -> list[socket.socket]:
    """Bind the service's address(es) - every address `host` resolves to, as aiohttp's own site would - before
    anything else starts: a process that cannot listen must touch no shared state (no schedules written, no
    inbox opened, no "ready"). Raises ChatwrightError naming the address when one cannot be bound. `reuse_port`:
    several processes bind the same address and the kernel spreads connections over them (framework.processes)."""
    # An ASCII name goes as bytes: a str is encoded with the idna codec, whose tables an idle service never needs.
    name = host.encode("ascii") if host.isascii() else host
    try:
        infos = socket.getaddrinfo(
            name or None, port, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
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
    body, content_type = runtime.metrics.render(await runtime.readings())
    return web.Response(body=body, headers={"Content-Type": content_type})


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
    app[RUNTIME_KEY] = runtime
    app[METRICS_KEY] = runtime.metrics
    runtime.webhooks.add_to(app)
    for path, handler in [("/healthz", healthz), ("/readyz", readyz), ("/metrics", metrics)]:
        app.router.add_get(path, json_errors_route(handler), expect_handler=json_expect)
    mount_admin(app, runtime)  # its guard wraps its routes: no middleware anywhere, so webhooks pass none
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
