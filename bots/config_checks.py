"""Validators the bots' config classes share: message templates and time zones, checked when the config is read."""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

__all__ = ["template", "time_zone"]

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def template(example: Mapping[str, Any], *, empty_hint: str = "give a text") -> Validator:
    """A validator for a `str.format` template that may use the fields of `example` (and nothing else).

    The template is rendered with the example values, so a bad format spec (`{starts_at:%Q}` on a string) is
    refused too, not only an unknown name.
    """
    fields = ", ".join(f"{{{name}}}" for name in example)

    def check(_: Any, attribute: attrs.Attribute[Any], text: str) -> None:
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
        except ValueError as error:
            raise ValueError(
                f"{attribute.name}: {text!r} is not a valid template ({error}); use {fields}"
            ) from None
        unknown = sorted({f"{{{name}}}" for name in names if name.split(".")[0].split("[")[0] not in example})
        if unknown:
            raise ValueError(f"{attribute.name}: unknown field(s) {', '.join(unknown)}; use {fields}")
        try:
            rendered = text.format(**example)
        except (ValueError, IndexError, AttributeError, KeyError) as error:
            raise ValueError(f"{attribute.name}: {text!r} is not a valid template: {error}") from None
        if not rendered.strip():
            raise ValueError(f"{attribute.name}: empty; {empty_hint}")

    return check


def time_zone(_: Any, attribute: attrs.Attribute[Any], name: str | None) -> None:
    """A validator for an IANA time zone name (None allowed: the field is optional)."""
    if name is None:
        return
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{attribute.name}: unknown time zone {name!r}; use an IANA name like 'Europe/Berlin'"
        ) from None
