"""Rendering the console's pages: one Jinja2 environment per admin app, autoescaping every template.

The environment (and jinja2 with it) is made when the first page is rendered: a service nobody opens the console
of does not hold it (tests/test_import_rules.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from framework.admin.csrf import CSRF_FIELD, csrf_token

if TYPE_CHECKING:
    import jinja2

__all__ = ["TEMPLATES_KEY", "Templates", "new_environment", "refusal_page", "render"]

REFRESH_SECONDS = 10
"""How often the list views reload themselves (meta refresh; `?refresh=off` stops it)."""


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _pretty(value: Any) -> str:
    """Indented JSON, for payloads and step records."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()


def new_environment() -> jinja2.Environment:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("framework.admin", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = _when
    environment.filters["ms"] = _ms
    environment.filters["pretty"] = _pretty
    return environment


class Templates:
    """An admin app's Jinja2 environment, made on first use."""

    __slots__ = ("_environment",)

    def __init__(self) -> None:
        self._environment: jinja2.Environment | None = None

    @property
    def environment(self) -> jinja2.Environment:
        if self._environment is None:
            self._environment = new_environment()
        return self._environment


TEMPLATES_KEY = web.AppKey("admin_templates", Templates)


def render(
    request: web.Request, template: str, *, status: int = 200, refresh: bool = False, **context: Any
) -> web.Response:
    """A page of the console; `refresh`: a list view that reloads itself unless `?refresh=off`."""
    environment = request.app[TEMPLATES_KEY].environment
    auto = refresh and request.query.get("refresh") != "off"
    context.setdefault("notice", None)
    context.setdefault("page", "")
    text = environment.get_template(template).render(
        request=request,
        csrf_field=CSRF_FIELD,
        csrf=csrf_token(request),
        refresh_seconds=REFRESH_SECONDS if auto else None,
        refreshable=refresh,
        **context,
    )
    response = web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
    )
    return response


def refusal_page(request: web.Request, status: int, *, needs_login: bool) -> web.Response:
    """The console's answer to a browser that may not come in: a login form when a token is configured."""
    return render(request, "refused.html", status=status, needs_login=needs_login, error=None)
