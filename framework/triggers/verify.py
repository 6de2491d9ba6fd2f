"""Signature schemes of inbound webhooks: config classes, cattrs wiring, and the verifiers built from them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Protocol, TypeVar

import attrs
import cattrs
from cattrs.errors import AttributeValidationNote, ClassValidationError

from framework.suggest import closest

__all__ = [
    "DEFAULT_TOLERANCE",
    "SCHEMES",
    "BearerVerify",
    "FieldProblem",
    "HmacSha256Verify",
    "NoVerify",
    "StandardWebhooksVerify",
    "VerificationFailed",
    "Verified",
    "Verifier",
    "VerifyConfig",
    "build_verifier",
    "check_timestamp",
    "configure_converter",
    "structure_checked",
]

DEFAULT_TOLERANCE = 300.0
"""How far (seconds) a signed timestamp may lie in the past or the future."""

T = TypeVar("T")


class FieldProblem(ValueError):
    """A config value is wrong: `field` names the key, `reason` says what was wrong and what to do."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


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


# -- cattrs wiring -------------------------------------------------------------------------------------------


def _field_error(cls: type[Any], field: str, reason: str) -> ClassValidationError:
    """An error cattrs' `transform_error` reports at `<path>.<field>` with `reason` as its message."""
    error = ValueError(reason)
    note = AttributeValidationNote(f"Structuring class {cls.__name__} @ attribute {field}", field, str)
    error.__notes__ = [note]
    return ClassValidationError(f"While structuring {cls.__name__}", [error], cls)


def structure_checked(
    structure: Callable[[Any, type[T]], T],
    value: Mapping[str, Any],
    cls: type[T],
    *,
    lists: Iterable[str] = (),
) -> T:
    """Structure `value` into `cls`, refusing unknown keys and reporting each problem at its key."""
    names = [field.name for field in attrs.fields(cls)]  # type: ignore[arg-type]
    for key in value:
        if key not in names:
            match = closest(str(key), names)
            hint = f"did you mean {match}? " if match else ""
            raise _field_error(cls, str(key), f"unknown key; {hint}valid keys here: {', '.join(names)}")
    for key in lists:
        if isinstance(value.get(key), str):
            raise _field_error(cls, key, f'expected a list of strings, e.g. {key} = ["..."]')
    try:
        return structure(value, cls)
    except FieldProblem as problem:
        raise _field_error(cls, problem.field, problem.reason) from None
    except ClassValidationError as error:
        problems = [inner for inner in error.exceptions if isinstance(inner, FieldProblem)]
        if not problems:
            raise
        raise _field_error(cls, problems[0].field, problems[0].reason) from None


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
            raise _field_error(type(value), "scheme", f"{what}; valid schemes: {valid}")
        return structure_checked(converter.structure, value, cls, lists=("secrets", "tokens"))

    converter.register_structure_hook_func(lambda cls: cls == VerifyConfig, structure_verify)


# -- verifiers -----------------------------------------------------------------------------------------------


class VerificationFailed(Exception):
    """The request is not authentic or not fresh; answered 401 with `code` and `detail`."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")


@attrs.frozen
class Verified:
    """What a scheme vouches for besides the body: the signed delivery id and timestamp, when it has them."""

    delivery_id: str | None = None
    timestamp: float | None = None


_NOTHING_SIGNED = Verified()


class Verifier(Protocol):
    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        """Return what the signature vouches for, or raise VerificationFailed."""


def check_timestamp(timestamp: float, now: float, tolerance: float) -> None:
    """Refuse a timestamp more than `tolerance` seconds before or after `now`."""
    if now - timestamp > tolerance:
        raise VerificationFailed("stale_timestamp", f"the timestamp is more than {tolerance:g} s old")
    if timestamp - now > tolerance:
        raise VerificationFailed(
            "future_timestamp", f"the timestamp is more than {tolerance:g} s in the future"
        )


def _raw(value: str) -> bytes:
    """The bytes a header value arrived as (aiohttp decodes header bytes as UTF-8 with surrogateescape)."""
    return value.encode("utf-8", "surrogateescape")


def _keyed(key: bytes) -> hmac.HMAC:
    """HMAC-SHA256 keyed once, for `_sign` to copy per delivery.

    Copying a keyed HMAC skips setting the key up again: 2.5 us for a 360-byte delivery, against 4.1 us for the
    one-shot `hmac.digest(key, msg, "sha256")`, which also releases and takes back the GIL on every call however
    short the message (under load, a switch to the store's writer thread each time); `update` releases it only
    for bodies of 2 KiB or more.
    """
    return hmac.new(key, digestmod=hashlib.sha256)


def _sign(keyed: hmac.HMAC, *parts: bytes) -> bytes:
    mac = keyed.copy()
    for part in parts:
        mac.update(part)
    return mac.digest()


def _missing(*names: str) -> VerificationFailed:
    return VerificationFailed("missing_signature", f"header {' / '.join(names)} is missing")


@attrs.frozen
class _StandardWebhooks:
    keys: tuple[hmac.HMAC, ...] = attrs.field(repr=False)
    tolerance: float

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        message_id = headers.get("webhook-id")
        sent_at = headers.get("webhook-timestamp")
        signatures = headers.get("webhook-signature")
        if not message_id or not sent_at or not signatures:
            raise _missing("webhook-id", "webhook-timestamp", "webhook-signature")
        if not (sent_at.isascii() and sent_at.isdigit() and len(sent_at) <= 12):
            raise VerificationFailed("bad_timestamp", "webhook-timestamp is not a Unix time in seconds")
        prefix = _raw(f"{message_id}.{sent_at}.")
        expected = [_sign(key, prefix, body) for key in self.keys]
        well_formed = False
        for part in signatures.split():
            version, _, encoded = part.partition(",")
            if version != "v1":
                continue
            try:
                given = base64.b64decode(encoded, validate=True)
            except ValueError:
                continue
            well_formed = True
            for digest in expected:
                if hmac.compare_digest(digest, given):
                    timestamp = float(sent_at)
                    check_timestamp(timestamp, now, self.tolerance)
                    return Verified(message_id, timestamp)
        if not well_formed:
            raise VerificationFailed("bad_signature", "webhook-signature holds no well-formed v1 signature")
        raise VerificationFailed("bad_signature", "no webhook-signature matches the body")


@attrs.frozen
class _HmacSha256:
    keys: tuple[hmac.HMAC, ...] = attrs.field(repr=False)
    header: str
    prefix: str
    hex: bool

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        value = headers.get(self.header)
        if not value:
            raise _missing(self.header)
        if not value.startswith(self.prefix):
            raise VerificationFailed("bad_signature", f"{self.header} does not start with {self.prefix!r}")
        encoded = value[len(self.prefix) :]
        try:
            given = bytes.fromhex(encoded) if self.hex else base64.b64decode(encoded, validate=True)
        except ValueError:
            raise VerificationFailed(
                "bad_signature", f"{self.header} is not a well-formed signature"
            ) from None
        for key in self.keys:
            if hmac.compare_digest(_sign(key, body), given):
                return _NOTHING_SIGNED
        raise VerificationFailed("bad_signature", f"{self.header} does not match the body")


@attrs.frozen
class _Bearer:
    tokens: tuple[bytes, ...] = attrs.field(repr=False)
    header: str

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        value = headers.get(self.header, "")
        if value[:7].lower() == "bearer ":
            value = value[7:].strip()
        if not value:
            raise VerificationFailed("missing_token", f"header {self.header} holds no token")
        given = _raw(value)
        if any(hmac.compare_digest(given, token) for token in self.tokens):
            return _NOTHING_SIGNED
        raise VerificationFailed("bad_token", f"the token in {self.header} is not valid")


@attrs.frozen
class _Nothing:
    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        return _NOTHING_SIGNED


def build_verifier(config: VerifyConfig, *, default_header: str | None = None) -> Verifier:
    """The verifier for a scheme config, with its keys decoded once; `default_header` is a preset's header."""
    if isinstance(config, StandardWebhooksVerify):
        keys = tuple(_keyed(base64.b64decode(secret[6:])) for secret in config.secrets)
        return _StandardWebhooks(keys, config.tolerance)
    if isinstance(config, HmacSha256Verify):
        header = config.header or default_header
        if header is None:
            raise FieldProblem(
                "header", 'missing; name the signature header, e.g. header = "X-Hub-Signature-256"'
            )
        keys = tuple(_keyed(secret.encode()) for secret in config.secrets)
        return _HmacSha256(keys, header, config.prefix, config.encoding == "hex")
    if isinstance(config, BearerVerify):
        return _Bearer(tuple(token.encode() for token in config.tokens), config.header)
    return _Nothing()
