"""JSON encoding and decoding for the hot paths, using orjson when it is installed."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps", "dumps_text", "loads"]

try:
    import orjson

    def dumps(value: Any) -> bytes:
        return orjson.dumps(value)

    def loads(raw: bytes | str) -> Any:
        return orjson.loads(raw)

except ImportError:  # pragma: no cover - exercised only without the "fast" extra

    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    def loads(raw: bytes | str) -> Any:
        return json.loads(raw)


def dumps_text(value: Any) -> str:
    return dumps(value).decode()
