"""JSON encoding and decoding for the hot paths, using orjson when it is installed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["WRITES_UTC_DATETIMES", "dumps", "dumps_default", "dumps_text", "loads"]

dumps: Callable[[Any], bytes]
"""Compact UTF-8 JSON bytes of a value."""
loads: Callable[[bytes | str], Any]
"""The value of a JSON document (bytes or text)."""
WRITES_UTC_DATETIMES: bool
"""`dumps` writes a datetime whose tzinfo is `datetime.UTC` as the string `isoformat()` gives (orjson does,
several times faster than calling `isoformat()`; the standard library's encoder cannot write datetimes)."""

try:
    import orjson

    # orjson's own functions, not wrappers around them: these run on every webhook and every inbox row.
    dumps = orjson.dumps
    loads = orjson.loads
    WRITES_UTC_DATETIMES = True

    def dumps_default(value: Any, default: Callable[[Any], Any]) -> bytes:
        """`dumps`, calling `default` for what JSON has no form for (it returns a form, or raises TypeError)."""
        return orjson.dumps(value, default=default)

except ImportError:  # pragma: no cover - exercised only without the "fast" extra

    def _dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    dumps = _dumps
    loads = json.loads
    WRITES_UTC_DATETIMES = False

    def dumps_default(value: Any, default: Callable[[Any], Any]) -> bytes:
        """`dumps`, calling `default` for what JSON has no form for (it returns a form, or raises TypeError)."""
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=default).encode()


def dumps_text(value: Any) -> str:
    return dumps(value).decode()
