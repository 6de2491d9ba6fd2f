"""The admin sub-app mounted at `/admin`: the console's pages and the JSON API, each route behind the guard."""

from __future__ import annotations

from aiohttp import web

from framework.admin.access import AdminAccess
from framework.admin.api import api_routes
from framework.admin.console import GUARD_KEY, console_routes
from framework.admin.guard import AdminGuard
from framework.admin.keys import RUNTIME_KEY
from framework.admin.pages import TEMPLATES_KEY, Templates
from framework.json_answers import add_json_fallbacks, json_errors_route, json_expect
from framework.runtime import Runtime

__all__ = ["PREFIX", "admin_app", "mount_admin"]

PREFIX = "/admin"


async def _to_console(request: web.Request) -> web.StreamResponse:
    raise web.HTTPPermanentRedirect(PREFIX + "/")


def admin_app(runtime: Runtime) -> web.Application:
    """The admin area of `runtime`'s service, guarded as `[service] admin_token` / `admin_open` say."""
    guard = AdminGuard(AdminAccess(runtime.config.service.admin_token, runtime.config.service.admin_open))
    app = web.Application()
    app[RUNTIME_KEY] = runtime
    app[GUARD_KEY] = guard
    app[TEMPLATES_KEY] = Templates()
    for method, path, handler in console_routes() + api_routes():
        app.router.add_route(
            method, path, guard.route(json_errors_route(handler)), expect_handler=json_expect
        )
    add_json_fallbacks(app, guard.route)
    return app


def mount_admin(app: web.Application, runtime: Runtime) -> None:
    """Add the admin sub-app to the service app at `/admin` (and `/admin` itself redirecting to the console)."""
    app.router.add_get(PREFIX, _to_console)
    app.add_subapp(PREFIX, admin_app(runtime))
