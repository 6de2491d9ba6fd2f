"""What every provider emulator shares: request recording, fault injection and the `/_emulator` admin routes.

An emulator is a real aiohttp app. Beside the provider's own routes it serves:
- `GET  /_emulator/requests`  every request received, in order (method, path, query, headers, json body)
- `POST /_emulator/faults`    `{latency, error_rate, rate_limit, seed}`: change the fault injection at run time
- `POST /_emulator/reset`     forget state, recorded requests and faults' counters

Faults can also be asked for per request with the query parameters `_latency`, `_fail` (a status to answer
once) so a test can script one failure without touching the emulator's config.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from aiohttp import web

from framework.adapter_registry import EmulatorOptions

__all__ = [
    "ErrorResponder",
    "FaultState",
    "RecordedRequest",
    "emulator_app",
    "read_json",
]

ErrorResponder = Callable[[int, str, float | None], web.StreamResponse]
"""Builds the provider's own error answer from (status, message, retry_after)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.frozen
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@attrs.define
class FaultState:
    """Live fault injection settings and the rate limiter's sliding window."""

    options: EmulatorOptions
    rng: random.Random
    window: deque[float] = attrs.field(factory=deque)
    requests: list[RecordedRequest] = attrs.field(factory=list)
    throttled: int = 0

    def over_rate_limit(self, now: float) -> float | None:
        """Seconds until a slot frees when the limit is reached; None when the request may pass."""
        limit = self.options.rate_limit
        if not limit:
            return None
        while self.window and now - self.window[0] >= 1.0:
            self.window.popleft()
        if len(self.window) >= limit:
            return max(0.0, 1.0 - (now - self.window[0]))
        self.window.append(now)
        return None


FAULTS_KEY = web.AppKey("emulator_faults", FaultState)
RESET_KEY: web.AppKey[Callable[[], None]] = web.AppKey("emulator_reset")


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, or None when it is empty or not JSON (the emulator then answers 400/422)."""
    raw = await request.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def emulator_app(
    *,
    options: EmulatorOptions,
    error_responder: ErrorResponder,
    reset: Callable[[], None],
) -> web.Application:
    """An app with recording and fault-injection middleware; add the provider's routes to it."""
    state = FaultState(options=options, rng=random.Random(options.seed))

    @web.middleware
    async def faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        if "/_emulator/" in request.path:
            return await handler(request)
        body = await read_json(request) if request.can_read_body else None
        state.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=body,
            )
        )
        latency = float(request.query.get("_latency", state.options.latency) or 0)
        if latency:
            await asyncio.sleep(latency)
        wait = state.over_rate_limit(time.monotonic())
        if wait is not None:
            state.throttled += 1
            return error_responder(429, "Too many requests", max(1, round(wait + 0.499)) if wait > 0 else 1)
        forced = request.query.get("_fail")
        if forced:
            return error_responder(int(forced), "Injected failure", None)
        if state.options.error_rate and state.rng.random() < state.options.error_rate:
            return error_responder(503, "Injected failure", None)
        return await handler(request)

    async def list_requests(_: web.Request) -> web.Response:
        return web.json_response([attrs.asdict(entry) for entry in state.requests])

    async def set_faults(request: web.Request) -> web.Response:
        changes = await read_json(request) or {}
        allowed = {field.name for field in attrs.fields(EmulatorOptions)}
        state.options = attrs.evolve(state.options, **{k: v for k, v in changes.items() if k in allowed})
        return web.json_response(attrs.asdict(state.options))

    async def do_reset(_: web.Request) -> web.Response:
        reset()
        state.requests.clear()
        state.window.clear()
        state.throttled = 0
        return web.json_response({"reset": True})

    app = web.Application(middlewares=[faults])
    app[FAULTS_KEY] = state
    app[RESET_KEY] = reset
    app.router.add_get("/_emulator/requests", list_requests)
    app.router.add_post("/_emulator/faults", set_faults)
    app.router.add_post("/_emulator/reset", do_reset)
    return app
