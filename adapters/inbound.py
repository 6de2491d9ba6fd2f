"""What the adapters share to deliver inbound messages: a wire object as JSON for `ChatMessage.raw`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

__all__ = ["raw_json"]


def _serialize(_: Any, __: Any, value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _present(_: attrs.Attribute[Any], value: Any) -> bool:
    return value is not None


def raw_json(value: Any) -> dict[str, Any]:
    """An attrs wire object as a JSON object (fields that are None left out, dates in ISO 8601).

    The push and the poll path of a provider read the same wire type, so both give the same `raw`.
    """
    result: dict[str, Any] = attrs.asdict(value, filter=_present, value_serializer=_serialize)
    return result
