"""Signature schemes of inbound webhooks as config: one attrs class per `scheme`, and their cattrs hook.

framework.triggers.verify builds the verifiers from these classes.
"""

from __future__ import annotations

import base64
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import attrs
import cattrs

from framework.structuring import FieldProblem, field_error, structure_checked

__all__ = [
    "DEFAULT_TOLERANCE",
    "SCHEMES",
    "BearerVerify",
    "HmacSha256Verify",
    "NoVerify",
    "StandardWebhooksVerify",
    "VerifyConfig",
    "configure_converter",
]

DEFAULT_TOLERANCE = 300.0
"""How far (seconds) a signed timestamp may lie in the past or the future."""


def _secrets_of(kind: str, hint: str) -> Callable[[Any, attrs.Attribute[Any], tuple[str, ...]], None]:
    def validate(_: Any, attribute: attrs.Attribute[Any], values: tuple[str, ...]) -> None:
        name = attribute.name
        if not values:
            raise FieldProblem(name, f"empty; add at least one {kind} or set insecure = true")
        for index, value in enumerate(values):
            if not isinstance(value, str) or not value:
                raise FieldProblem(f"{name}[{index}]", f"empty; is its ${{ENV}} variable unset? {hint}")
            if value != value.strip():
                raise FieldProblem(f"{name}[{index}]", "has leading or trailing whitespace; remove it")

    return validate


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _whsec(_: Any, attribute: attrs.Attribute[Any], values: tuple[str, ...]) -> None:
    for index, value in enumerate(values):
        if not value.startswith("whsec_"):
            raise FieldProblem(
                f"{attribute.name}[{index}]", "does not start with whsec_; expected whsec_<base64>"
            )
        try:
            base64.b64decode(value[6:], validate=True)
        except ValueError:
            raise FieldProblem(
                f"{attribute.name}[{index}]", "is not base64 after whsec_; copy the secret exactly as issued"
            ) from None


def _positive(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise FieldProblem(attribute.name, f"must be a positive number of seconds, got {value!r}")


def _header_name(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and (not value or not value.isascii() or not value.isprintable() or " " in value):
        raise FieldProblem(attribute.name, f"{value!r} is not an HTTP header name; e.g. X-Hub-Signature-256")


@attrs.frozen(kw_only=True)
class StandardWebhooksVerify:
    """Standard Webhooks (webhook-id / webhook-timestamp / webhook-signature); any of `secrets` may match."""

    scheme: Literal["standard-webhooks"] = "standard-webhooks"
    secrets: tuple[str, ...] = attrs.field(
        default=(),
        converter=_strings,
        validator=[_secrets_of("whsec_ secret", "expected whsec_<base64>"), _whsec],
        repr=False,
    )
    tolerance: float = attrs.field(default=DEFAULT_TOLERANCE, validator=_positive)


@attrs.frozen(kw_only=True)
class HmacSha256Verify:
    """HMAC-SHA256 of the raw body in one header (`prefix` + hex or base64); covers GitHub and DevRev.

    `header` may be left out only on a route whose preset names it (DevRev: X-DevRev-Signature).
    """

    scheme: Literal["hmac-sha256"] = "hmac-sha256"
    secrets: tuple[str, ...] = attrs.field(
        default=(),
        converter=_strings,
        validator=_secrets_of("secret", "set the secret the sender signs with"),
        repr=False,
    )
    header: str | None = attrs.field(default=None, validator=_header_name)
    prefix: str = ""
    encoding: str = attrs.field(default="hex")

    @encoding.validator
    def _check_encoding(self, attribute: attrs.Attribute[Any], value: str) -> None:
        if value not in ("hex", "base64"):
            raise FieldProblem(attribute.name, f'unknown encoding {value!r}; expected "hex" or "base64"')


@attrs.frozen(kw_only=True)
class BearerVerify:
    """A shared token in a header (`Authorization: Bearer <token>` by default); any of `tokens` may match."""

    scheme: Literal["bearer"] = "bearer"
    tokens: tuple[str, ...] = attrs.field(
        default=(),
        converter=_strings,
        validator=_secrets_of("token", "set the token the sender presents"),
        repr=False,
    )
    header: str = attrs.field(default="Authorization", validator=_header_name)

    @tokens.validator
    def _check_prefix(self, attribute: attrs.Attribute[Any], values: tuple[str, ...]) -> None:
        for index, value in enumerate(values):
            if value[:7].lower() == "bearer ":
                raise FieldProblem(
                    f"{attribute.name}[{index}]", 'starts with "Bearer "; give the token alone'
                )


@attrs.frozen(kw_only=True)
class NoVerify:
    """No verification at all; a route may use it only with `insecure = true`."""

    scheme: Literal["none"] = "none"


VerifyConfig = StandardWebhooksVerify | HmacSha256Verify | BearerVerify | NoVerify

SCHEMES: Mapping[str, type[VerifyConfig]] = types.MappingProxyType(
    {
        "standard-webhooks": StandardWebhooksVerify,
        "hmac-sha256": HmacSha256Verify,
        "bearer": BearerVerify,
        "none": NoVerify,
    }
)
"""Each `scheme` value and its config class."""


def configure_converter(converter: cattrs.Converter) -> None:
    """Teach `converter` to structure a `VerifyConfig` from a table by its `scheme` key."""
    valid = ", ".join(f'"{name}"' for name in SCHEMES)

    def structure_verify(value: Any, _: Any) -> VerifyConfig:
        if isinstance(value, StandardWebhooksVerify | HmacSha256Verify | BearerVerify | NoVerify):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a table such as {{ scheme = ..., ... }}; valid schemes: {valid}")
        scheme = value.get("scheme")
        cls = SCHEMES.get(scheme) if isinstance(scheme, str) else None
        if cls is None:
            what = "missing" if scheme is None else f"unknown scheme {scheme!r}"
            raise field_error(type(value), "scheme", f"{what}; valid schemes: {valid}")
        return structure_checked(converter.structure, value, cls, lists=("secrets", "tokens"))

    converter.register_structure_hook_func(lambda cls: cls == VerifyConfig, structure_verify)
