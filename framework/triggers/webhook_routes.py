"""Webhook routes as config: the `[[webhooks]]` entry (WebhookRoute), its validators and cattrs hook, and the
rules a route and the list of routes must keep: `route_errors` and `routes_errors` (the config is refused),
`route_warnings` (`chatwright check` reports them).

framework.triggers.webhook_receiver serves these routes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from framework.store.base import DEFAULT_DEDUPE_TTL
from framework.structuring import FieldProblem, structure_checked
from framework.triggers import verify_config
from framework.triggers.verify_config import (
    DEFAULT_TOLERANCE,
    HmacSha256Verify,
    NoVerify,
    StandardWebhooksVerify,
    VerifyConfig,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_READ_TIMEOUT",
    "DEVREV_SIGNATURE_HEADER",
    "WebhookRoute",
    "configure_converter",
    "route_errors",
    "route_warnings",
    "routes_errors",
]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_READ_TIMEOUT = 30.0
"""Seconds a delivery's body may take to arrive once its headers are in (`[service] read_timeout`)."""
PRESETS = ("devrev",)
DEVREV_SIGNATURE_HEADER = "X-DevRev-Signature"
_URL_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")


def _path(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not _URL_PATH.fullmatch(value):
        raise FieldProblem(attribute.name, f"{value!r} is not a plain URL path; expected e.g. /hooks/github")


def _check_dotted(field: str, value: str) -> None:
    if not all(value.split(".")):
        raise FieldProblem(field, f"{value!r} is not a dotted path into the body; expected e.g. data.chat.id")


def _dotted(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        _check_dotted(attribute.name, value)


def _ordering_paths(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """`ordering_field` as given (one dotted path, or a list tried in turn) as a tuple of paths."""
    if value is None:
        return ()
    paths = (value,) if isinstance(value, str) else value
    if not isinstance(paths, list | tuple) or not all(isinstance(path, str) for path in paths):
        raise FieldProblem("ordering_field", f"{value!r}: expected a dotted path or a list of them")
    for path in paths:
        _check_dotted("ordering_field", path)
    return tuple(paths)


def _not_empty(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not value.strip():
        raise FieldProblem(attribute.name, "empty; remove the key or give it a value")


def _positive(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise FieldProblem(attribute.name, f"must be positive, got {value!r}")


def _preset(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and value not in PRESETS:
        raise FieldProblem(attribute.name, f'unknown preset {value!r}; the only preset is "devrev"')


@attrs.frozen(kw_only=True)
class WebhookRoute:
    """One `[[webhooks]]` entry: where deliveries arrive, how they are verified, what Event they become."""

    path: str = attrs.field(validator=_path)
    verify: VerifyConfig
    event: str | None = attrs.field(default=None, validator=_not_empty)
    event_field: str | None = attrs.field(default=None, validator=_dotted)
    id_field: str | None = attrs.field(default=None, validator=_dotted)
    id_header: str | None = attrs.field(default=None, validator=_not_empty)
    ordering_field: tuple[str, ...] = attrs.field(default=(), converter=_ordering_paths)
    """Dotted paths into the body, tried in turn: the first string or integer found is the ordering key."""
    max_body_bytes: int = attrs.field(default=DEFAULT_MAX_BODY_BYTES, validator=_positive)
    dedupe_ttl: float = attrs.field(default=DEFAULT_DEDUPE_TTL, validator=_positive)
    timestamp_tolerance: float = attrs.field(default=DEFAULT_TOLERANCE, validator=_positive)
    insecure: bool = False
    preset: str | None = attrs.field(default=None, validator=_preset)
    adapter: str | None = attrs.field(default=None, validator=_not_empty)
    """With `preset = "devrev"`: the DevRev adapter whose DMs' comments (`timeline_entry_created` on a chat)
    become `chat.message` events (framework.messages); other deliveries stay events of their own type."""


def configure_converter(converter: cattrs.Converter) -> None:
    """Teach `converter` WebhookRoute and VerifyConfig (a devrev route's `verify` may omit its scheme)."""
    verify_config.configure_converter(converter)
    generated = make_dict_structure_fn(
        WebhookRoute, converter, ordering_field=override(struct_hook=lambda value, _: _ordering_paths(value))
    )

    def structure_route(value: Any, _: Any) -> WebhookRoute:
        if isinstance(value, WebhookRoute):
            return value
        if not isinstance(value, Mapping):
            raise ValueError("expected a table ([[webhooks]] with path, verify, event or event_field)")
        table = value.get("verify")
        if value.get("preset") == "devrev" and isinstance(table, Mapping) and "scheme" not in table:
            value = {**value, "verify": {"scheme": "hmac-sha256", **table}}
        return structure_checked(generated, value, WebhookRoute)

    converter.register_structure_hook(WebhookRoute, structure_route)


def routes_errors(routes: Sequence[WebhookRoute], prefix: str = "") -> list[str]:
    """What makes the `[[webhooks]]` list unusable: each route's errors (`route_errors`), and a path served
    twice. Each problem starts with `<prefix>webhooks[<index>]`."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, route in enumerate(routes):
        where = f"{prefix}webhooks[{index}]"
        problems += route_errors(route, where)
        if route.path in seen:
            problems.append(f"{where}.path: {route.path!r} is already used by webhooks[{seen[route.path]}]")
        seen.setdefault(route.path, index)
    return problems


def route_errors(route: WebhookRoute, where: str) -> list[str]:
    """What makes `route` unusable, each as `<where>...: ...`."""
    problems = []
    scheme = route.verify
    devrev = route.preset == "devrev"
    if isinstance(scheme, NoVerify) and not route.insecure:
        problems.append(
            f'{where}.verify.scheme: "none" accepts requests from anyone; choose a signature scheme'
            " or, for local testing only, set insecure = true"
        )
    if route.event and route.event_field:
        problems.append(f"{where}: both event and event_field are set; keep one")
    if not route.event and not route.event_field and not devrev:
        problems.append(f'{where}: no event type; set event = "thing.happened" or event_field = "type"')
    if route.id_field and route.id_header:
        problems.append(f"{where}: both id_field and id_header are set; keep one")
    if isinstance(scheme, HmacSha256Verify) and scheme.header is None and not devrev:
        problems.append(
            f'{where}.verify.header: missing; name the signature header, e.g. "X-Hub-Signature-256"'
        )
    if route.adapter is not None and not devrev:
        problems.append(
            f'{where}.adapter: only a preset = "devrev" route turns deliveries into chat messages'
        )
    if devrev and not isinstance(scheme, HmacSha256Verify | NoVerify):
        problems.append(
            f'{where}.verify.scheme: DevRev signs with "hmac-sha256"; use verify = {{ secrets = [...] }}'
        )
    return problems


def route_warnings(route: WebhookRoute, where: str) -> list[str]:
    """What works but is probably not meant, each as `<where>: warning: ...`."""
    warnings = []
    scheme = route.verify
    if not (route.id_field or route.id_header or route.preset or isinstance(scheme, StandardWebhooksVerify)):
        warnings.append(
            f"{where}: warning: no delivery id (id_field, id_header, standard-webhooks or a preset); every"
            " delivery gets a fresh event id, so a redelivered webhook is handled twice"
        )
    if route.insecure and isinstance(scheme, NoVerify):
        warnings.append(
            f"{where}: warning: insecure = true; anyone who can reach {route.path} can enqueue events"
        )
    return warnings
