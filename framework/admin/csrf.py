"""The console's CSRF defence: an Origin check on every state-changing request and a double-submit token.

The token lives in an HttpOnly, SameSite=Strict cookie (`chatwright_csrf`), set with the first page a browser
gets; every form carries the same value in its `csrf` field (or a script in the `X-CSRF-Token` header). Another
site can make a browser send the cookie, but cannot read it to put it in the form.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from aiohttp import web

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "csrf_token",
    "remember_csrf",
    "same_origin",
    "token_matches",
]

CSRF_COOKIE = "chatwright_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"

_NEW_TOKEN = web.RequestKey("admin_new_csrf", str)
"""A token made for a browser without one; `remember_csrf` sets it as its cookie on the answer."""


def csrf_token(request: web.Request) -> str:
    """The CSRF token of this browser (its cookie's value), or a new one that `remember_csrf` will set."""
    token = request.cookies.get(CSRF_COOKIE) or request.get(_NEW_TOKEN)
    if token is None:
        token = request[_NEW_TOKEN] = secrets.token_urlsafe(24)
    return token


def remember_csrf(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Set the cookie of a token made while answering `request`."""
    fresh = request.get(_NEW_TOKEN)
    if fresh is not None and CSRF_COOKIE not in request.cookies:
        response.set_cookie(
            CSRF_COOKIE, fresh, path="/admin", httponly=True, samesite="Strict", secure=request.secure
        )
    return response


def same_origin(request: web.Request) -> bool:
    """No `Origin` (not a browser, or an old one on a same-origin request), or this service's own."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.scheme == request.scheme and parts.netloc == request.host


async def token_matches(request: web.Request, *, form: bool) -> bool:
    """Whether the request carries the token of its cookie: in the header, or (`form`) in the form field."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if cookie is None:
        return False
    given = request.headers.get(CSRF_HEADER)
    if given is None and form:
        field = (await request.post()).get(CSRF_FIELD)
        given = field if isinstance(field, str) else None
    return given is not None and hmac.compare_digest(given, cookie)
