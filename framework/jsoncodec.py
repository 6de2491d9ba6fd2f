"""JSON encoding and decoding for the hot paths: orjson's own functions (a dependency of chatwright)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["WRITES_UTC_DATETIMES", "dumps", "dumps_default", "dumps_text", "loads"]

# orjson's own functions, not wrappers around them: these run on every webhook and every inbox row.
dumps: Callable[[Any], bytes] = orjson.dumps
"""Compact UTF-8 JSON bytes of a value."""
loads: Callable[[bytes | str], Any] = orjson.loads
"""The value of a JSON document (bytes or text)."""
WRITES_UTC_DATETIMES = True
"""`dumps` writes a datetime whose tzinfo is `datetime.UTC` as the string `isoformat()` gives."""


def dumps_default(value: Any, default: Callable[[Any], Any]) -> bytes:
    """`dumps`, calling `default` for what JSON has no form for (it returns a form, or raises TypeError)."""
    return orjson.dumps(value, default=default)


def dumps_text(value: Any) -> str:
    return dumps(value).decode()
