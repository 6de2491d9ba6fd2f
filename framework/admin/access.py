"""Who may use the admin area (`/admin`, `/admin/api/...`): holders of `admin_token`, else this machine only.

The rule; `framework.admin.guard` applies it to the admin sub-app as its one middleware.

Without a token the admin API answers only requests that come from a loopback address and carry no proxy
header: a reverse proxy on the same host connects from 127.0.0.1 too, and would otherwise pass the whole
internet through as "local". `admin_open = true` lifts the restriction explicitly.
"""

from __future__ import annotations

import hmac
import ipaddress

import attrs
from aiohttp import web

from framework.json_answers import error_response

__all__ = ["AdminAccess", "admin_warnings", "from_this_machine", "is_loopback_host"]

PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
"""A request with one of these came through a proxy, whatever address it connected from."""


def _is_loopback_address(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is not is_loopback before Python 3.13
    return address.is_loopback


def is_loopback_host(host: str) -> bool:
    """Whether a listen address (`[service] host`) is reachable from this machine only."""
    return host == "localhost" or _is_loopback_address(host)


def from_this_machine(request: web.Request) -> bool:
    """Whether `request` came from a loopback address, directly (not through a proxy that says so)."""
    remote = request.remote
    if not remote or not _is_loopback_address(remote):
        return False
    return not any(name in request.headers for name in PROXY_HEADERS)


def _bearer_credentials(header: str) -> bytes | None:
    """The token of `Authorization: Bearer <token>`; the scheme in any letter case, as RFC 9110 says."""
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip().encode("utf-8", "surrogateescape")


@attrs.frozen
class AdminAccess:
    """The admin API's gate: `token` when set, else loopback requests only unless `open`."""

    token: str | None = attrs.field(repr=False)
    open: bool = False

    def refusal(self, request: web.Request) -> web.Response | None:
        """The answer refusing `request`, or None when it may go on."""
        if self.token is not None:
            given = _bearer_credentials(request.headers.get("Authorization", ""))
            if given is None or not hmac.compare_digest(given, self.token.encode()):
                response = error_response(
                    401, "unauthorized", "send Authorization: Bearer <service.admin_token>"
                )
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
            return None
        if self.open or from_this_machine(request):
            return None
        return error_response(
            403,
            "admin_token_required",
            "without [service] admin_token the admin API answers only requests from this machine;"
            " set admin_token and send Authorization: Bearer <token> (or set admin_open = true)",
        )


def admin_warnings(admin_token: str | None, admin_open: bool, host: str) -> list[str]:
    """For `chatwright check` and the start of `chatwright run`: how the admin API is exposed, when it is."""
    if admin_token is not None:
        return []
    if admin_open:
        return [
            "service.admin_open = true without admin_token: anyone who can reach the service can list"
            " and replay dead letters through /admin; set admin_token instead"
        ]
    if not is_loopback_host(host):
        return [
            f"service.admin_token is not set and the service listens on {host}: /admin answers only"
            " requests from this machine (others get 403); set admin_token to use it from elsewhere"
        ]
    return []
