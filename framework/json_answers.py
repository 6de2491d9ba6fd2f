"""JSON answers for the service's HTTP errors: per-route wrappers instead of an app-wide middleware.

aiohttp runs every request of an app with middlewares through them (and through one more wrapper of its own),
which costs a webhook about 3 us - a tenth of what aiohttp itself spends on it. So the service wraps each
handler with `json_errors_route` (one call layer), answers unknown methods and paths through routes of its
own (`add_json_fallbacks`), and keeps `json_errors` as a middleware for apps that prefer one.
"""

from __future__ import annotations

import functools
import logging
import types
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import HttpVersion11, hdrs, web

from framework import jsoncodec

__all__ = [
    "add_json_fallbacks",
    "answer",
    "error_response",
    "json_errors",
    "json_errors_route",
    "json_expect",
]

log = logging.getLogger("chatwright.service")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_ERROR_CODES = types.MappingProxyType({404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"})
_SKIPPED_HEADERS = ("content-type", "content-length")


def answer(status: int, payload: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=jsoncodec.dumps(payload), content_type="application/json")


def error_response(status: int, code: str, detail: str) -> web.Response:
    """The JSON error body every webhook answer and every HTTP error of the service uses."""
    return answer(status, {"error": code, "detail": detail})


def _as_json(request: web.Request, error: web.HTTPException) -> web.Response | None:
    """aiohttp's HTTP error as a JSON answer; None for redirects and errors that already carry JSON."""
    if error.status < 400 or error.content_type == "application/json":
        return None
    code = _ERROR_CODES.get(error.status) or "_".join(error.reason.lower().split()) or "error"
    if isinstance(error, web.HTTPMethodNotAllowed):
        detail = f"{request.method} is not allowed here; use {', '.join(sorted(error.allowed_methods))}"
    elif error.status == 404:
        detail = "nothing is served at this path"
    else:
        detail = error.text or error.reason
    response = error_response(error.status, code, detail.encode("utf-8", "backslashreplace").decode())
    for name, value in error.headers.items():
        if name.lower() not in _SKIPPED_HEADERS:
            response.headers.add(name, value)
    return response


async def json_expect(request: web.Request) -> web.StreamResponse | None:
    """A route's Expect handler: `100-continue` as aiohttp answers it, any other expectation a JSON 417.

    aiohttp runs the Expect handler before the route's handler and its middlewares, and its own answers 417 in
    plain text; `expect_handler=json_expect` on a route is the public way to change that.
    """
    if request.version != HttpVersion11:
        return None
    expect = request.headers.get(hdrs.EXPECT, "")
    if expect.lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the interim answer is not the start of the response's body
        return None
    return error_response(
        417, "expectation_failed", "only Expect: 100-continue is understood; leave Expect out"
    )


def _unexpected(request: web.Request) -> web.Response:
    log.exception("unhandled error answering %s %s", request.method, request.path)
    return error_response(500, "internal_error", "the service failed; the error is in its log")


def json_errors_route(handler: Handler) -> Handler:
    """Wrap one route's handler: its HTTP errors and unexpected failures are answered with a JSON body."""

    @functools.wraps(handler)
    async def route(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as error:
            response = _as_json(request, error)
            if response is None:
                raise
            return response
        except Exception:
            return _unexpected(request)

    return route


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The same as `json_errors_route`, for every route of an app (aiohttp's 404, 405 and 413 included)."""
    return await json_errors_route(handler)(request)


def add_json_fallbacks(app: web.Application, wrap: Callable[[Handler], Handler] | None = None) -> None:
    """After the app's routes: a JSON 405 (with Allow) for other methods on each path, a JSON 404 elsewhere.

    Without a middleware, aiohttp would answer those itself with a text body. `wrap` goes around each of these
    routes as the app's own routes have it (the admin guard).
    """

    def route(handler: Handler) -> Handler:
        wrapped = json_errors_route(handler)
        return wrapped if wrap is None else wrap(wrapped)

    for resource in list(app.router.resources()):
        methods = {route.method for route in resource}
        if not isinstance(resource, web.Resource) or hdrs.METH_ANY in methods:
            continue
        allowed = frozenset(methods)

        async def not_allowed(request: web.Request, allowed: frozenset[str] = allowed) -> web.StreamResponse:
            raise web.HTTPMethodNotAllowed(request.method, allowed)

        resource.add_route(hdrs.METH_ANY, route(not_allowed), expect_handler=json_expect)

    async def not_found(request: web.Request) -> web.StreamResponse:
        raise web.HTTPNotFound()

    app.router.add_route(hdrs.METH_ANY, "/{path:.*}", route(not_found), expect_handler=json_expect)
