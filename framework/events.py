"""Event: the one thing every trigger produces and every handler receives, with its lossless JSON form."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import attrs
import cattrs

from framework import jsoncodec

__all__ = ["Event", "event_from_json", "event_to_json", "new_event", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


@attrs.frozen
class Event:
    """Something that happened. `id` is unique and is the dedupe key; `type` is dotted (`shift.published`).

    `source` names the trigger (`webhook:/hooks/shifts`, `schedule:digest`, `emit:shiftchat`, `cli`).
    `attempt` counts deliveries to handlers, starting at 1. `trace_id` follows an event and all it causes.
    """

    id: str
    type: str
    data: dict[str, Any] = attrs.field(factory=dict)
    source: str = ""
    occurred_at: datetime = attrs.field(factory=utcnow)
    received_at: datetime = attrs.field(factory=utcnow)
    attempt: int = 1
    trace_id: str = ""


def new_event(
    type: str,
    data: dict[str, Any] | None = None,
    *,
    id: str | None = None,
    source: str = "",
    occurred_at: datetime | None = None,
    trace_id: str | None = None,
) -> Event:
    """Build an Event with a fresh id and trace id unless given."""
    now = utcnow()
    event_id = id or _new_id()
    return Event(
        id=event_id,
        type=type,
        data=dict(data or {}),
        source=source,
        occurred_at=occurred_at or now,
        received_at=now,
        attempt=1,
        trace_id=trace_id or event_id,
    )


def _build_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_unstructure_hook(datetime, lambda value: value.isoformat())

    def structure_datetime(value: Any, _: type) -> datetime:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    converter.register_structure_hook(datetime, structure_datetime)
    converter.register_structure_hook_func(lambda cls: cls == dict[str, Any], lambda value, _: dict(value))
    return converter


_converter = _build_converter()


def event_to_dict(event: Event) -> dict[str, Any]:
    result: dict[str, Any] = _converter.unstructure(event)
    return result


def event_from_dict(raw: dict[str, Any]) -> Event:
    return _converter.structure(raw, Event)


def event_to_json(event: Event) -> bytes:
    return jsoncodec.dumps(event_to_dict(event))


def event_from_json(raw: bytes | str) -> Event:
    return event_from_dict(jsoncodec.loads(raw))
