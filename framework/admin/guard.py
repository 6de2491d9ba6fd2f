"""The admin area's one guard middleware: who may come in (the admin token, else this machine only, as
`framework.admin.access` rules) and which state-changing requests are genuine (CSRF).

A browser cannot send `Authorization: Bearer`, so the console also accepts a session cookie that `POST
/admin/login` sets for the right token: an HMAC of the token (it changes when the token does; HttpOnly,
SameSite=Strict). Every POST is refused when its `Origin` names another site; a console form POST must also
carry the CSRF token of the `chatwright_csrf` cookie in its `csrf` field (double submit: another site can make
a browser send the cookie, but cannot read it to put it in the form). The JSON API's POSTs with a bearer token
need neither: no browser attaches that header by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import attrs
from aiohttp import web
from aiohttp.typedefs import Middleware

from framework.admin.access import AdminAccess
from framework.json_answers import error_response

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "SESSION_COOKIE",
    "AdminGuard",
    "csrf_token",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SESSION_COOKIE = "chatwright_admin"
CSRF_COOKIE = "chatwright_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_PATH = "/admin/login"
API_PREFIX = "/admin/api/"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _session_value(token: str) -> str:
    return hmac.new(token.encode(), b"chatwright admin console session", hashlib.sha256).hexdigest()


NEW_CSRF_KEY = web.RequestKey("admin_new_csrf", str)
"""A CSRF token made for a browser without one; the guard sets it as its cookie on the answer."""


def csrf_token(request: web.Request) -> str:
    """The CSRF token of this browser (its cookie's value), or a new one the guard sets as its cookie."""
    token = request.cookies.get(CSRF_COOKIE) or request.get(NEW_CSRF_KEY)
    if token is None:
        token = request[NEW_CSRF_KEY] = secrets.token_urlsafe(24)
    return token


def _same_origin(request: web.Request) -> bool:
    """No Origin (not a browser, or a same-origin GET-made navigation of an old one), or ours."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.scheme == request.scheme and parts.netloc == request.host


@attrs.frozen
class AdminGuard:
    """Builds the middleware of the admin sub-app around the access rule."""

    access: AdminAccess

    def session_cookie(self, given: str) -> str | None:
        """The session cookie's value for a login with `given`, or None when it is not the token."""
        token = self.access.token
        if token is None or not hmac.compare_digest(given.encode(), token.encode()):
            return None
        return _session_value(token)

    def _has_session(self, request: web.Request) -> bool:
        token = self.access.token
        cookie = request.cookies.get(SESSION_COOKIE)
        return token is not None and cookie is not None and hmac.compare_digest(cookie, _session_value(token))

    def _refusal(self, request: web.Request, console: bool) -> web.StreamResponse | None:
        if console and self._has_session(request):
            return None
        refused = self.access.refusal(request)
        if refused is None or not console:
            return refused
        from framework.admin.pages import refusal_page

        return refusal_page(request, refused.status, needs_login=self.access.token is not None)

    @property
    def middleware(self) -> Middleware:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            api = request.path.startswith(API_PREFIX)
            if request.method in UNSAFE_METHODS and not _same_origin(request):
                return error_response(403, "cross_origin", "admin requests from another site are refused")
            if request.path == LOGIN_PATH:
                return await _remember_csrf(request, handler)
            refused = self._refusal(request, console=not api)
            if refused is not None:
                return refused
            if request.method in UNSAFE_METHODS:
                bearer = "Authorization" in request.headers
                if not (api and bearer) and not await _csrf_ok(request, api):
                    detail = (
                        f"send the console's CSRF token ({CSRF_HEADER} header or {CSRF_FIELD} form field);"
                        " reload the page and try again"
                    )
                    return error_response(403, "csrf_failed", detail)
            return await _remember_csrf(request, handler)

        return guard


async def _csrf_ok(request: web.Request, api: bool) -> bool:
    """A POST that needs no CSRF token (the JSON API used without cookies), or one whose token matches."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if api and cookie is None and SESSION_COOKIE not in request.cookies:
        return True  # curl and scripts on this machine: no cookie a browser could have sent for them
    if cookie is None:
        return False
    given = request.headers.get(CSRF_HEADER)
    if given is None and not api:
        form = await request.post()
        field = form.get(CSRF_FIELD)
        given = field if isinstance(field, str) else None
    return given is not None and hmac.compare_digest(given, cookie)


async def _remember_csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    fresh = request.get(NEW_CSRF_KEY)
    if fresh is not None and CSRF_COOKIE not in request.cookies:
        response.set_cookie(
            CSRF_COOKIE, fresh, path="/admin", httponly=True, samesite="Strict", secure=request.secure
        )
    return response
