"""The admin area's one guard, wrapped around each of its routes: who may come in (the admin token, else this machine only, as
`framework.admin.access` rules) and which state-changing requests are genuine (`framework.admin.csrf`).

A browser cannot send `Authorization: Bearer`, so the console also accepts a session cookie that `POST
/admin/login` sets for the right token: an HMAC of the token (it changes when the token does; HttpOnly,
SameSite=Strict). Every POST is refused when its `Origin` names another site; a console form POST must also
carry the CSRF token. The JSON API's POSTs with a bearer token need no CSRF token (no browser attaches that
header by itself), nor do ones without any cookie (curl on this machine: nothing a browser could have sent).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

import attrs
from aiohttp import web

from framework.admin.access import AdminAccess
from framework.admin.csrf import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    remember_csrf,
    same_origin,
    token_matches,
)
from framework.admin.pages import refusal_page
from framework.json_answers import error_response

__all__ = ["SESSION_COOKIE", "AdminGuard"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SESSION_COOKIE = "chatwright_admin"
LOGIN_PATH = "/admin/login"
API_PREFIX = "/admin/api/"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _session_value(token: str) -> str:
    return hmac.new(token.encode(), b"chatwright admin console session", hashlib.sha256).hexdigest()


@attrs.frozen
class AdminGuard:
    """Guards the routes of the admin sub-app with the access rule.

    A wrapper per route rather than a middleware of the sub-app: aiohttp runs every request of an app through
    the middlewares of its sub-apps' tree once any of them has one (with a wrapper of its own per app), so a
    middleware here would cost each webhook of the service app that machinery too.
    """

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
        return refusal_page(request, refused.status, needs_login=self.access.token is not None)

    def route(self, handler: Handler) -> Handler:
        """`handler` behind the guard."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            api = request.path.startswith(API_PREFIX)
            if request.method in UNSAFE_METHODS and not same_origin(request):
                return error_response(403, "cross_origin", "admin requests from another site are refused")
            if request.path == LOGIN_PATH:
                return remember_csrf(request, await handler(request))
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
            return remember_csrf(request, await handler(request))

        return guarded


async def _csrf_ok(request: web.Request, api: bool) -> bool:
    """A POST that needs no CSRF token (the JSON API used without cookies), or one whose token matches."""
    if api and CSRF_COOKIE not in request.cookies and SESSION_COOKIE not in request.cookies:
        return True
    return await token_matches(request, form=not api)
