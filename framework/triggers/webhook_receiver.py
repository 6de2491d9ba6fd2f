"""Inbound webhooks, where the flow starts: verify a delivery, parse it, and append its Event to the inbox.

The routes come from config (framework.triggers.webhook_routes); a `preset = "devrev"` route also answers
DevRev's verify handshake here.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
import types
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
from aiohttp import hdrs, web

from framework import jsoncodec, scope
from framework.errors import ConfigError, StoreOverloaded
from framework.events import new_event
from framework.json_answers import answer as _answer
from framework.json_answers import error_response, json_errors, json_errors_route, json_expect
from framework.messages import PushFeed, is_own, message_event, message_ordering_key
from framework.payloads import payload_problems
from framework.plugins import Handler
from framework.store.base import Append
from framework.tracing import Tracer
from framework.triggers.verify import VerificationFailed, Verifier, build_verifier, check_timestamp
from framework.triggers.webhook_routes import (
    DEFAULT_READ_TIMEOUT,
    DEVREV_SIGNATURE_HEADER,
    WebhookRoute,
    routes_errors,
)

__all__ = [
    "HANDLER_ARGS",
    "MAX_JSON_DEPTH",
    "WebhookReceiver",
    "error_response",
    "event_id_for",
    "json_errors",
]

log = logging.getLogger("chatwright.webhooks")

MAX_READABLE_DELIVERY_ID = 128
"""Longer delivery ids (or ones with unprintable characters) are hashed into the event id."""
HANDLER_ARGS: Mapping[str, Any] = types.MappingProxyType({"auto_decompress": False})
"""`web.Application(handler_args=...)` for an app serving webhook routes: aiohttp hands bodies over as sent,
so that a route refuses a Content-Encoding with its own 415 (aiohttp would decode gzip and deflate itself,
fail with a 500 on a body that is not what its header says, and answer br or zstd with a plain-text 400)."""
ENCODINGS = frozenset({"gzip", "x-gzip", "deflate", "br", "zstd", "compress", "x-compress"})
"""Content-Encoding values a 415 names; any other value is not echoed back."""
MAX_JSON_DEPTH = 128
"""Bodies with objects and arrays nested deeper are refused (400): the inbox encodes events with orjson, which
stops at 254 levels, and no sender needs a tenth of that."""


@attrs.frozen
class _Endpoint:
    """A route compiled for the request path: dotted paths split, verifier keys decoded, preset applied."""

    route: WebhookRoute
    verifier: Verifier
    event_type: str | None
    event_path: tuple[str, ...]
    id_path: tuple[str, ...]
    id_header: str | None
    ordering_paths: tuple[tuple[str, ...], ...]
    source: str
    devrev: bool
    typed: tuple[Handler, ...] | None = None
    """The handlers that may get this route's events and declare a payload type; None when none do."""
    payload_types: tuple[type, ...] = ()
    """For a route with a fixed `event`: the types its body must fit (all of them), computed at startup."""


def _payload_types(handlers: Iterable[Handler], event_type: str) -> tuple[type, ...]:
    """The distinct payload types the handlers of `event_type` declare, in registration order."""
    kinds: dict[type, None] = {}
    for handler in handlers:
        if handler.payload is not None and handler.matches_type(event_type):
            kinds[handler.payload] = None
    return tuple(kinds)


def _with_payloads(endpoint: _Endpoint, handlers: tuple[Handler, ...]) -> _Endpoint:
    """`endpoint` with what its deliveries are checked against; unchanged when nothing applies."""
    if endpoint.event_type is not None:
        kinds = _payload_types(handlers, endpoint.event_type)
        return attrs.evolve(endpoint, typed=handlers, payload_types=kinds) if kinds else endpoint
    return attrs.evolve(endpoint, typed=handlers) if handlers else endpoint


def _invalid_payload(fields: dict[str, list[str]]) -> web.Response:
    return _answer(
        422,
        {
            "error": "invalid_payload",
            "detail": "the body does not fit the payload type of its event; see fields",
            "fields": fields,
        },
    )


def _split(dotted: str | None) -> tuple[str, ...]:
    return tuple(dotted.split(".")) if dotted else ()


def _compile(route: WebhookRoute) -> _Endpoint:
    devrev = route.preset == "devrev"
    event_field = route.event_field or (None if route.event or not devrev else "type")
    id_field = route.id_field or (None if route.id_header or not devrev else "id")
    header = DEVREV_SIGNATURE_HEADER if devrev else None
    return _Endpoint(
        route=route,
        verifier=build_verifier(route.verify, default_header=header),
        event_type=route.event,
        event_path=_split(event_field),
        id_path=_split(id_field),
        id_header=route.id_header,
        ordering_paths=tuple(_split(path) for path in route.ordering_field),
        source=f"webhook:{route.path}",
        devrev=devrev,
    )


def _lookup(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for key in path:
        if type(value) is not dict:
            return None
        value = value.get(key)
    return value


def _scalar(value: Any) -> str | None:
    if type(value) is str:
        return value or None
    if type(value) is int:
        return str(value)
    return None


def event_id_for(path: str, delivery_id: str) -> str:
    """The event id of a delivery: readable for sane ids, a hash for long or unprintable ones."""
    if len(delivery_id) <= MAX_READABLE_DELIVERY_ID and delivery_id.isascii() and delivery_id.isprintable():
        return f"webhook:{path}:{delivery_id}"
    digest = hashlib.sha256(delivery_id.encode("utf-8", "surrogateescape")).hexdigest()
    return f"webhook:{path}:sha256:{digest}"


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The raw body, or None as soon as it is known to exceed `limit` (by Content-Length or while reading)."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    content = request.content
    chunks: list[bytes] = []
    size = 0
    while chunk := await content.readany():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays in `value` nest more than `limit` levels deep (the top level is 1).

    Level by level rather than recursively, so that no depth can exhaust the interpreter's stack.
    """
    level = [value]
    for _ in range(limit):
        level = [
            child
            for item in level
            for child in (item.values() if type(item) is dict else item)
            if type(child) is dict or type(child) is list
        ]
        if not level:
            return False
    return True


def _rfc3339(value: Any) -> float | None:
    if type(value) is not str:
        return None
    try:
        moment = datetime.fromisoformat(value.upper())
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _devrev(data: dict[str, Any], now: float, tolerance: float) -> tuple[web.Response | None, float | None]:
    """DevRev's checks on a verified body: a fresh `timestamp`, and the verify handshake answered."""
    verify_type = data.get("type") == "verify"
    nested = data.get("verify")
    challenge = nested.get("challenge") if verify_type and type(nested) is dict else data.get("challenge")
    if verify_type and type(challenge) is not str:
        return error_response(400, "missing_challenge", "a verify request needs verify.challenge"), None
    handshake = type(challenge) is str
    stamp = data.get("timestamp")
    timestamp = None
    if stamp is not None or not handshake:
        timestamp = _rfc3339(stamp)
        if timestamp is None:
            return error_response(
                401, "bad_timestamp", "the body's timestamp is missing or not RFC 3339"
            ), None
        try:
            check_timestamp(timestamp, now, tolerance)
        except VerificationFailed as failure:
            return error_response(401, failure.code, failure.detail), None
    if handshake:
        return _answer(200, {"challenge": challenge}), None
    return None, timestamp


def _unsupported_encoding(encoding: str) -> web.Response:
    name = encoding.strip().lower()
    what = f"Content-Encoding {name}" if name in ENCODINGS else "a Content-Encoding"
    response = error_response(
        415,
        "unsupported_encoding",
        f"{what} is not accepted; send the body uncompressed (the signature is checked over the bytes as sent)",
    )
    response.headers[hdrs.ACCEPT_ENCODING] = "identity"
    response.force_close()  # the body is left unread
    return response


def _too_deep() -> web.Response:
    return error_response(
        400,
        "invalid_json",
        f"the body nests objects and arrays more than {MAX_JSON_DEPTH} levels deep; flatten it",
    )


class WebhookReceiver:
    """Serves the configured webhook routes: each delivery verified, parsed, and appended to the inbox.

    `append` is what stores the event: the runtime passes its worker's `append` (the one way an event reaches
    the worker), which hands a fresh event to a free handler slot in the same commit. A body that takes longer than
    `read_timeout` seconds to arrive is answered 408 and its connection closed. `handlers` are the service's
    handlers: a delivery whose event type has handlers that declare a payload type must fit every one of those
    types, else it is answered 422 with the field errors (framework.payloads); routes none applies to pay nothing.
    """

    def __init__(
        self,
        routes: Iterable[WebhookRoute],
        append: Append,
        *,
        clock: Callable[[], float] = time.time,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        handlers: Iterable[Handler] = (),
        observe: Callable[[str, int, float], None] | None = None,
        tracer: Tracer | None = None,
        providers: Mapping[str, object] | None = None,
    ) -> None:
        self.routes = tuple(routes)
        problems = routes_errors(self.routes)
        self._feeds: dict[str, PushFeed] = {}
        for index, route in enumerate(self.routes):
            if route.adapter is None:
                continue
            feed = (providers or {}).get(route.adapter)
            if isinstance(feed, PushFeed):
                self._feeds[route.path] = feed
            elif providers is not None:
                problems.append(
                    f"webhooks[{index}].adapter: {route.adapter!r} is not a configured adapter whose provider"
                    " pushes messages (a devrev one)"
                )
        if problems:
            raise ConfigError(problems)
        typed = tuple(handler for handler in handlers if handler.payload is not None)
        self._endpoints = tuple(_with_payloads(_compile(route), typed) for route in self.routes)
        self._append = append
        self._clock = clock
        self._read_timeout = read_timeout
        self.overloaded = 0
        """Deliveries refused because the store was overloaded (answered 503 with Retry-After)."""
        self._observe = observe
        """Told of each delivery answered: its route, the status and the seconds it took (the metrics)."""
        self._tracer = tracer
        """Opens a span per delivery; its context is stored in the event (`trace_context`)."""

    def add_to(self, app: web.Application) -> None:
        """Register a POST route on `app` for every webhook route."""
        observe = self._observe
        receive: Callable[[_Endpoint, web.Request], Awaitable[web.Response]] = (
            self._receive if observe is None else functools.partial(self._observed, observe)
        )
        if self._tracer is not None:
            receive = functools.partial(self._traced, self._tracer, receive)
        for endpoint in self._endpoints:
            app.router.add_post(
                endpoint.route.path,
                json_errors_route(functools.partial(receive, endpoint)),
                expect_handler=json_expect,
            )

    @staticmethod
    async def _traced(
        tracer: Tracer,
        receive: Callable[[_Endpoint, web.Request], Awaitable[web.Response]],
        endpoint: _Endpoint,
        request: web.Request,
    ) -> web.Response:
        """`receive` in a span of its own, current while the event is made and stored."""
        with tracer.webhook(endpoint.route.path) as span:
            response = await receive(endpoint, request)
            span.answered(response.status)
            return response

    async def _observed(
        self, observe: Callable[[str, int, float], None], endpoint: _Endpoint, request: web.Request
    ) -> web.Response:
        """`_receive`, timed and counted by route and status."""
        started = time.perf_counter()
        status = 500
        try:
            response = await self._receive(endpoint, request)
            status = response.status
            return response
        except web.HTTPException as error:
            status = error.status
            raise
        finally:
            observe(endpoint.route.path, status, time.perf_counter() - started)

    async def _receive(self, endpoint: _Endpoint, request: web.Request) -> web.Response:
        route = endpoint.route
        encoding = request.headers.get(hdrs.CONTENT_ENCODING)
        if encoding is not None and encoding.strip().lower() not in ("", "identity"):
            log.info("webhook %s refused: Content-Encoding %r", route.path, encoding)
            return _unsupported_encoding(encoding)
        try:
            if request.content.is_eof():  # the usual case: the whole body came with the headers
                body = await _read_body(request, route.max_body_bytes)
            else:
                async with asyncio.timeout(self._read_timeout):
                    body = await _read_body(request, route.max_body_bytes)
        except TimeoutError:
            log.info("webhook %s: the body did not arrive within %g s", route.path, self._read_timeout)
            response = error_response(
                408, "request_timeout", f"the body did not arrive within {self._read_timeout:g} s"
            )
            response.force_close()
            return response
        except ConnectionError:
            # A sender that gives up mid-body is not the service's failure; it retries or it does not.
            log.info("webhook %s: the client disconnected before sending the whole body", route.path)
            return error_response(
                400, "incomplete_body", "the connection closed before the whole body arrived"
            )
        if body is None:
            response = error_response(
                413, "payload_too_large", f"the body exceeds {route.max_body_bytes} bytes"
            )
            response.force_close()
            return response
        now = self._clock()
        try:
            verified = endpoint.verifier.verify(request.headers, body, now)
        except VerificationFailed as failure:
            log.info("webhook %s refused: %s", route.path, failure.code)
            return error_response(401, failure.code, failure.detail)
        try:
            data = jsoncodec.loads(body)
        except (ValueError, RecursionError) as error:
            if isinstance(error, RecursionError) or "depth" in str(error):
                return _too_deep()
            return error_response(400, "invalid_json", "the body is not valid JSON")
        if type(data) is not dict:
            return error_response(400, "not_an_object", "the body must be a JSON object")
        # Counting brackets is a cheap upper bound of the depth: most bodies never need the walk.
        if body.count(b"{") + body.count(b"[") > MAX_JSON_DEPTH and _nested_deeper_than(data, MAX_JSON_DEPTH):
            return _too_deep()
        timestamp = verified.timestamp
        if endpoint.devrev:
            answer, timestamp = _devrev(data, now, route.timestamp_tolerance)
            if answer is not None:
                return answer
        event_type = endpoint.event_type or _lookup(data, endpoint.event_path)
        if type(event_type) is not str or not event_type:
            field = ".".join(endpoint.event_path)
            return error_response(400, "missing_event_type", f"the body has no string at {field}")
        if endpoint.typed is not None:
            kinds = (
                endpoint.payload_types if endpoint.event_type else _payload_types(endpoint.typed, event_type)
            )
            if kinds:
                fields = payload_problems(data, kinds)
                if fields:
                    log.info("webhook %s refused: %s does not fit its payload type", route.path, event_type)
                    return _invalid_payload(fields)
        if endpoint.id_path:
            delivery_id = _scalar(_lookup(data, endpoint.id_path))
        elif endpoint.id_header:
            delivery_id = request.headers.get(endpoint.id_header) or None
        else:
            delivery_id = verified.delivery_id
        if delivery_id is None and (endpoint.id_path or endpoint.id_header):
            where = ".".join(endpoint.id_path) or f"header {endpoint.id_header}"
            return error_response(400, "missing_delivery_id", f"the delivery id ({where}) is missing")
        ordering_key = None
        for path in endpoint.ordering_paths:
            ordering_key = _scalar(_lookup(data, path))
            if ordering_key is not None:
                break
        event = None
        feed = self._feeds.get(route.path) if self._feeds else None
        if feed is not None:
            message = feed.webhook_message(data)
            if message is not None:
                if is_own(feed, message):
                    log.debug("webhook %s: message %s is the bot's own", route.path, message.message_id)
                    return _answer(200, {"ignored": "the bot's own message"})
                event = message_event(message, source=endpoint.source)
                ordering_key = message_ordering_key(message)
        if event is None:
            event = new_event(
                event_type,
                data,
                id=event_id_for(route.path, delivery_id) if delivery_id else None,
                source=endpoint.source,
                occurred_at=datetime.fromtimestamp(timestamp, UTC) if timestamp is not None else None,
                trace_context="" if self._tracer is None else self._tracer.trace_context(),
            )
        elif self._tracer is not None:
            event = attrs.evolve(event, trace_context=self._tracer.trace_context())
        # the request's own task: its log lines (and the handler's, when it starts here) carry the event
        scope.bind(scope.Scope(event.id, event.trace_id))
        try:
            result = await self._append(event, ordering_key=ordering_key, dedupe_ttl=route.dedupe_ttl)
        except StoreOverloaded as overload:
            self.overloaded += 1
            refused = error_response(503, "overloaded", "the service is overloaded; retry later")
            refused.headers["Retry-After"] = str(max(1, round(overload.retry_after)))
            return refused
        except Exception:
            log.exception("webhook %s: event %s could not be stored", route.path, event.id)
            return error_response(503, "inbox_unavailable", "the event could not be stored; retry later")
        if result.duplicate:
            log.debug("webhook %s: event %s is a duplicate", route.path, result.event_id)
            return _answer(200, {"event_id": result.event_id, "duplicate": True})
        log.debug("webhook %s: event %s accepted", route.path, result.event_id, extra={"route": route.path})
        return _answer(202, {"event_id": result.event_id})
