"""What every provider emulator shares: request recording, fault injection, scripted answers, admin routes.

An emulator is a real aiohttp app. Beside the provider's own routes it serves:
- `GET  /_emulator/requests`  every provider request received, in order (method, path, query, headers, body)
- `POST /_emulator/faults`    `{latency, error_rate, rate_limit, seed}`: change the fault injection at run time
- `POST /_emulator/script`    queue scripted answers (below)
- `POST /_emulator/reset`     forget the provider's state, recorded requests, scripted answers, rate limit window

Emulators of providers that can deliver messages also serve `POST /_emulator/messages`
`{chat_id, sender_id, text}`: a person writes `text` into a chat (`PersonMessage`), as if from the provider's app;
`chat_id` "latest" names the chat made last (handy in the demo, where chat ids are made up at run time).

Admin routes are neither recorded nor faulted, also when the emulator is mounted under a prefix (`chatwright
emulate` serves each emulator under `/<provider>`, e.g. `/devrev/_emulator/script`). The query parameter
`_latency=S` delays one request by S seconds.

Scripted answers are the one way to make chosen requests fail (or answer oddly). `POST /_emulator/script`
takes one answer `{status, retry_after?, body?, method?, path?, times?}` or several `{"answers": [...]}`;
they are queued in order and a provider request takes the first one that matches it: `method`, when given,
and `path`, when given, equal to the request's path below the emulator's mount point (`/chats.create`) or to
its full path (`/devrev/chats.create`). An answer serves `times` requests (default 1), then is gone, so a
retry succeeds.
- status >= 300: answered before the provider acts, with the provider's own error body (`error_responder`
  with "Scripted failure" and `retry_after`), or with `body` when given;
- 2xx: the provider acts, then its 2xx answer is replaced by this status with an empty body, or `body` (an
  error the provider answers is left alone).
An answer with `delay` (seconds) is held that long before it is sent - after the provider acted, for a 2xx - so a
client whose timeout is shorter gives up on a call that took effect.
Tests may also append `ScriptedAnswer`s to `app[FAULTS_KEY].scripted`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
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
    "FAULTS_KEY",
    "ErrorResponder",
    "FaultState",
    "PersonMessage",
    "RecordedRequest",
    "ScriptedAnswer",
    "emulator_app",
    "read_json",
]

ErrorResponder = Callable[[int, str, float | None], web.StreamResponse]
"""Builds the provider's own error answer from (status, message, retry_after)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SCRIPTED_FAILURE = "Scripted failure"
"""The message a scripted error answer is given to the provider's error responder with."""


@attrs.frozen
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any

    def header(self, name: str) -> str | None:
        """The value of header `name`, whatever its case; None when it was not sent."""
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), None)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_status(_: Any, __: Any, status: Any) -> None:
    if not _is_int(status) or not 200 <= status <= 599:
        raise ValueError(f"status must be an integer 200..599, got {status!r}")


def _check_times(_: Any, __: Any, times: Any) -> None:
    if not _is_int(times) or times < 1:
        raise ValueError(f"times must be an integer >= 1, got {times!r}")


def _check_delay(_: Any, __: Any, delay: Any) -> None:
    if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
        raise ValueError(f"delay must be a number of seconds >= 0, got {delay!r}")


def _check_retry_after(_: Any, __: Any, retry_after: Any) -> None:
    if retry_after is not None and (
        not isinstance(retry_after, int | float) or isinstance(retry_after, bool)
    ):
        raise ValueError(f"retry_after must be a number of seconds, got {retry_after!r}")


_optional_str = attrs.validators.optional(attrs.validators.instance_of(str))


@attrs.define(on_setattr=attrs.setters.NO_OP)
class ScriptedAnswer:
    """An answer for the next `times` provider requests matching `method` and `path` (see the module)."""

    status: int = attrs.field(validator=_check_status)
    retry_after: float | None = attrs.field(default=None, validator=_check_retry_after)
    body: Any = None
    method: str | None = attrs.field(default=None, validator=_optional_str)
    path: str | None = attrs.field(default=None, validator=_optional_str)
    times: int = attrs.field(default=1, validator=_check_times)
    delay: float = attrs.field(default=0.0, validator=_check_delay)

    def matches(self, method: str, path: str, full_path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and (
            self.path is None
            or fnmatch.fnmatchcase(path, self.path)
            or fnmatch.fnmatchcase(full_path, self.path)
        )

    def response(self, error_responder: ErrorResponder) -> web.StreamResponse:
        if self.status >= 300 and self.body is None:
            return error_responder(self.status, SCRIPTED_FAILURE, self.retry_after)
        headers = {"Retry-After": str(round(self.retry_after))} if self.retry_after is not None else None
        if self.body is None:
            return web.Response(status=self.status, headers=headers)
        return web.json_response(self.body, status=self.status, headers=headers)


@attrs.define
class FaultState:
    """Live fault injection settings, the rate limiter's sliding window, recordings and scripted answers."""

    options: EmulatorOptions
    rng: random.Random
    window: deque[float] = attrs.field(factory=deque)
    requests: list[RecordedRequest] = attrs.field(factory=list)
    scripted: list[ScriptedAnswer] = attrs.field(factory=list)
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

    def take_scripted(self, method: str, path: str, full_path: str) -> ScriptedAnswer | None:
        """The first queued answer matching the request, used once more (and dropped when used up)."""
        for answer in self.scripted:
            if answer.matches(method, path, full_path):
                if answer.times <= 1:
                    self.scripted.remove(answer)
                else:
                    answer.times -= 1
                return answer
        return None


FAULTS_KEY = web.AppKey("emulator_faults", FaultState)
RESET_KEY: web.AppKey[Callable[[], None]] = web.AppKey("emulator_reset")


LATEST_CHAT = "latest"


@attrs.frozen
class PersonMessage:
    """`POST /_emulator/messages {chat_id, sender_id, text}`: what a person writes into a chat."""

    chat_id: str
    sender_id: str
    text: str

    @property
    def latest(self) -> bool:
        """`chat_id` is "latest": the chat made last."""
        return self.chat_id == LATEST_CHAT

    @classmethod
    async def read(cls, request: web.Request) -> PersonMessage:
        """The request's message; 400 with what is missing otherwise."""
        body = await read_json(request)
        fields = {}
        for field in ("chat_id", "sender_id", "text"):
            value = body.get(field) if isinstance(body, dict) else None
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str) or not value.strip():
                raise web.HTTPBadRequest(
                    text=json.dumps({"error": f"{field}: expected a non-empty string"}),
                    content_type="application/json",
                )
            fields[field] = value
        return cls(**fields)


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, or None when it is empty or not JSON (the emulator then answers 400/422)."""
    raw = await request.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _mount_prefix(request: web.Request, app: web.Application) -> str:
    """Where `app` is mounted (`add_subapp`) for this request: `/devrev`, or "" at the root."""
    apps = request.match_info.apps
    for parent, child in itertools.pairwise(apps):
        if child is app:
            for resource in parent.router.resources():
                info = resource.get_info()
                if info.get("app") is app:
                    return str(info.get("prefix", ""))
    return ""


def emulator_app(
    *,
    options: EmulatorOptions,
    error_responder: ErrorResponder,
    reset: Callable[[], None],
) -> web.Application:
    """An app with recording, fault injection and scripted answers; add the provider's routes to it."""
    state = FaultState(options=options, rng=random.Random(options.seed))

    @web.middleware
    async def faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        prefix = _mount_prefix(request, app)
        path = request.path[len(prefix) :]
        if path.startswith("/_emulator/"):
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
        scripted = state.take_scripted(request.method, path, request.path)
        if scripted is not None and scripted.status >= 300:
            if scripted.delay:
                await asyncio.sleep(scripted.delay)
            return scripted.response(error_responder)
        if scripted is None and state.options.error_rate and state.rng.random() < state.options.error_rate:
            return error_responder(503, "Injected failure", None)
        response = await handler(request)
        if scripted is not None and 200 <= response.status < 300:
            if scripted.delay:
                await asyncio.sleep(scripted.delay)
            return scripted.response(error_responder)
        return response

    async def list_requests(_: web.Request) -> web.Response:
        return web.json_response([attrs.asdict(entry) for entry in state.requests])

    async def set_faults(request: web.Request) -> web.Response:
        changes = await read_json(request) or {}
        allowed = {field.name for field in attrs.fields(EmulatorOptions)}
        state.options = attrs.evolve(state.options, **{k: v for k, v in changes.items() if k in allowed})
        return web.json_response(attrs.asdict(state.options))

    async def add_script(request: web.Request) -> web.Response:
        body = await read_json(request)
        several = isinstance(body, dict) and "answers" in body
        items = body["answers"] if several else [body]
        try:
            if (several and set(body) != {"answers"}) or not isinstance(items, list):
                raise ValueError('"answers" must be the only key, and a list')
            if not all(isinstance(item, dict) for item in items):
                raise ValueError("each answer must be a JSON object")
            answers = [ScriptedAnswer(**item) for item in items]
        except (TypeError, ValueError) as error:
            expected = "expected {status, retry_after?, body?, method?, path?, times?} or {answers: [...]}"
            return web.json_response({"message": f"{expected}: {error}"}, status=400)
        state.scripted.extend(answers)
        return web.json_response({"queued": len(state.scripted)})

    async def do_reset(_: web.Request) -> web.Response:
        reset()
        state.requests.clear()
        state.scripted.clear()
        state.window.clear()
        state.throttled = 0
        return web.json_response({"reset": True})

    app = web.Application(middlewares=[faults])
    app[FAULTS_KEY] = state
    app[RESET_KEY] = reset
    app.router.add_get("/_emulator/requests", list_requests)
    app.router.add_post("/_emulator/faults", set_faults)
    app.router.add_post("/_emulator/script", add_script)
    app.router.add_post("/_emulator/reset", do_reset)
    return app
