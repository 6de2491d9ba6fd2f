"""`chatwright send`: a delivery signed the way a configured webhook route verifies it, posted to the service.

The signing itself is the testing kit's (`framework.testing.signing.signature_headers`); this module finds the
route, puts the delivery id where the route reads it, and posts.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from framework import jsoncodec
from framework.config import Config
from framework.errors import ChatwrightError, ConfigError
from framework.testing.signing import signature_headers
from framework.triggers.verify_config import StandardWebhooksVerify
from framework.triggers.webhook_routes import DEVREV_SIGNATURE_HEADER, WebhookRoute

__all__ = [
    "Answer",
    "SignedDelivery",
    "find_route",
    "new_delivery_id",
    "parse_data",
    "parse_headers",
    "post_delivery",
    "service_url",
    "sign_for_route",
]


@attrs.frozen
class SignedDelivery:
    """A ready-to-send delivery: the raw body and the headers that sign it."""

    path: str
    body: bytes
    headers: dict[str, str]
    delivery_id: str | None = None


@attrs.frozen
class Answer:
    """The service's answer: the status and the body (decoded JSON when it is JSON, else the text)."""

    status: int
    body: Any


def new_delivery_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def parse_data(value: str) -> dict[str, Any]:
    """`--data`: a JSON object, or `@file.json` to read one from a file."""
    where = "--data"
    if value.startswith("@"):
        path = Path(value[1:])
        where = f"--data {value}"
        try:
            value = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"{where}: cannot read {path}: {error.strerror or error}") from None
    try:
        data = json.loads(value)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{where}: not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where}: expected a JSON object, e.g. '{{\"id\": 1}}', got {type(data).__name__ if data is not None else 'null'}"
        )
    return data


def parse_headers(values: list[str] | None) -> dict[str, str]:
    """`--header K=V` (or `K: V`), given any number of times."""
    headers: dict[str, str] = {}
    for item in values or ():
        name, sep, value = item.partition("=") if "=" in item else item.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"--header {item!r}: expected NAME=VALUE, e.g. --header X-Trace=abc")
        headers[name.strip()] = value.strip()
    return headers


def find_route(config: Config, path: str) -> WebhookRoute:
    """The `[[webhooks]]` route at `path`; an unknown path is refused with the list of configured ones."""
    for route in config.webhooks:
        if route.path == path:
            return route
    configured = ", ".join(route.path for route in config.webhooks) or "none"
    raise ConfigError(f"{config.name}: no webhook route at {path!r}; configured paths: {configured}")


def service_url(config: Config) -> str:
    """The base URL of the service a config runs: its [service] host and port (a wildcard host: this machine)."""
    host = config.service.host
    if host in ("0.0.0.0", "", "*"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{config.service.port}"


def _set_dotted(data: dict[str, Any], dotted: str, value: str) -> None:
    *parents, last = dotted.split(".")
    target = data
    for name in parents:
        child = target.get(name)
        if not isinstance(child, dict):
            child = target[name] = {}
        target = child
    target[last] = value


def _get_dotted(data: Mapping[str, Any], dotted: str) -> Any:
    value: Any = data
    for name in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value


def sign_for_route(
    route: WebhookRoute,
    data: Mapping[str, Any],
    *,
    delivery_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    now: float | None = None,
) -> SignedDelivery:
    """`data` as the body of a delivery to `route`, its id where the route reads it, signed as it verifies.

    The delivery id goes into the body at `id_field` (a DevRev preset route: `id`), into the `id_header`, or
    into `webhook-id` (standard-webhooks). Without `delivery_id`, an id already at `id_field` is kept, else a
    fresh one is made. A DevRev preset route gets the body's `timestamp` (now) when it has none.
    """
    body = dict(data)
    now = time.time() if now is None else now
    devrev = route.preset == "devrev"
    id_field = route.id_field or (None if route.id_header or not devrev else "id")
    extra: dict[str, str] = {}
    if id_field is not None:
        present = _get_dotted(body, id_field)
        if delivery_id is not None or present is None:
            _set_dotted(body, id_field, delivery_id or new_delivery_id())
        delivery_id = str(_get_dotted(body, id_field))
    elif route.id_header is not None:
        delivery_id = delivery_id or new_delivery_id()
        extra[route.id_header] = delivery_id
    elif isinstance(route.verify, StandardWebhooksVerify):
        delivery_id = delivery_id or new_delivery_id()
    else:
        delivery_id = None  # the route reads no delivery id: every delivery is a new event
    if devrev and "timestamp" not in body:
        body["timestamp"] = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
    raw = jsoncodec.dumps(body)
    signed = signature_headers(
        route.verify,
        raw,
        delivery_id=delivery_id,
        timestamp=int(now),
        default_header=DEVREV_SIGNATURE_HEADER if devrev else None,
    )
    return SignedDelivery(
        path=route.path,
        body=raw,
        headers={"Content-Type": "application/json", **extra, **signed, **dict(headers or {})},
        delivery_id=delivery_id,
    )


async def post_delivery(url: str, delivery: SignedDelivery, *, timeout: float = 30.0) -> Answer:
    """POST `delivery` to the service at base `url`; an unreachable service is a ChatwrightError naming it."""
    target = f"{url.rstrip('/')}{delivery.path}"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.post(target, data=delivery.body, headers=delivery.headers) as response,
        ):
            text = await response.text()
    except (aiohttp.ClientConnectionError, TimeoutError) as error:
        raise ChatwrightError(
            f"cannot reach the service at {target} ({error or type(error).__name__}); is it running?"
        ) from None
    try:
        body: Any = json.loads(text) if text else None
    except json.JSONDecodeError:
        body = text
    return Answer(response.status, body)
