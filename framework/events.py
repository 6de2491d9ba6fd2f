"""Event: the one thing every trigger produces and every handler receives, with its lossless JSON form."""

from __future__ import annotations

import builtins
import os
import time
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from framework import jsoncodec
from framework.payloads import structure_payload

__all__ = ["Event", "event_from_json", "event_to_json", "new_event", "utcnow"]

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    """A UUIDv7 (RFC 9562) as 32 hex digits: the millisecond first, then 74 random bits.

    The id of an event made without one: a webhook on a route without a delivery id, a command's, a lifecycle
    event, a plugin's own `new_event` (schedule fires, emits and polled messages derive theirs). Ids made later
    sort later, so the store's dedupe key of such an event goes to the end of its index, on a page the last commit
    wrote too, instead of onto a random page: uuid4 ids cost a page each per commit once the index has more
    leaves than a commit has appends."""
    random = int.from_bytes(os.urandom(10))
    value = (
        (time.time_ns() // 1_000_000) << 80
        | 0x7 << 76
        | (random >> 62 & 0xFFF) << 64
        | 0b10 << 62
        | random & 0x3FFF_FFFF_FFFF_FFFF
    )
    return f"{value:032x}"


@attrs.frozen
class Event:
    """Something that happened. `id` is unique and is the dedupe key; `type` is dotted (`shift.published`).

    `source` names the trigger (`webhook:/hooks/shifts`, `schedule:digest`, `emit:shiftchat`, `cli`).
    `attempt` counts deliveries to handlers, starting at 1. `trace_id` follows an event and all it causes (the
    correlation id of the log lines). `trace_context` is the W3C `traceparent` of the span that appended it, when
    tracing is on (framework.tracing): its handlers' spans continue that trace; empty otherwise, and then left out
    of the event's JSON form.
    """

    id: str
    type: str
    data: dict[str, Any] = attrs.field(factory=dict)
    source: str = ""
    occurred_at: datetime = attrs.field(factory=utcnow)
    received_at: datetime = attrs.field(factory=utcnow)
    attempt: int = 1
    trace_id: str = ""
    trace_context: str = ""

    def payload(self, kind: builtins.type[T]) -> T:
        """`data` structured into the attrs class `kind` (a handler's `payload=`, framework.payloads).

        Raises InvalidPayload (an InvalidEvent: dead-lettered at once) naming each field that does not fit,
        e.g. for an event emitted or replayed with other data than its webhook would have accepted.
        """
        return structure_payload(self.data, kind)


def new_event(
    type: str,
    data: dict[str, Any] | None = None,
    *,
    id: str | None = None,
    source: str = "",
    occurred_at: datetime | None = None,
    trace_id: str | None = None,
    trace_context: str = "",
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
        trace_context=trace_context,
    )


def _build_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_unstructure_hook(datetime, lambda value: value.isoformat())

    def structure_datetime(value: Any, _: type) -> datetime:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    converter.register_structure_hook(datetime, structure_datetime)
    converter.register_structure_hook_func(lambda cls: cls == dict[str, Any], lambda value, _: dict(value))
    converter.register_unstructure_hook(
        Event, make_dict_unstructure_fn(Event, converter, trace_context=override(omit_if_default=True))
    )
    return converter


_converter = _build_converter()


def event_to_dict(event: Event) -> dict[str, Any]:
    result: dict[str, Any] = _converter.unstructure(event)
    return result


def event_from_dict(raw: dict[str, Any]) -> Event:
    return _fast_event(raw, copy_data=True) or _converter.structure(raw, Event)


def event_to_json(event: Event) -> bytes:
    # Written out by hand because it runs for every inbox append: cattrs walks `data` value by value, which
    # costs several times the encoding itself. Values in `data` that JSON has no form for (attrs instances,
    # sets ...) make the encoder raise, and then cattrs unstructures the whole event as before.
    # The encoder writes UTC datetimes itself (the same text, without two isoformat() calls of ~2 us each); other
    # offsets go through isoformat(), which keeps an offset's seconds where orjson would drop them.
    occurred, received = event.occurred_at, event.received_at
    native = jsoncodec.WRITES_UTC_DATETIMES and occurred.tzinfo is UTC and received.tzinfo is UTC
    form = {
        "id": event.id,
        "type": event.type,
        "data": event.data,
        "source": event.source,
        "occurred_at": occurred if native else occurred.isoformat(),
        "received_at": received if native else received.isoformat(),
        "attempt": event.attempt,
        "trace_id": event.trace_id,
    }
    if event.trace_context:
        form["trace_context"] = event.trace_context
    try:
        return jsoncodec.dumps(form)
    except TypeError:
        return jsoncodec.dumps(event_to_dict(event))


def event_from_json(raw: bytes | str) -> Event:
    return event_from_stored(jsoncodec.loads(raw))


def event_from_stored(raw: dict[str, Any]) -> Event:
    """event_from_dict for a dict nobody else holds (just decoded): its `data` is taken, not copied."""
    return _fast_event(raw, copy_data=False) or _converter.structure(raw, Event)


def _fast_event(raw: Any, *, copy_data: bool) -> Event | None:
    """The Event of a dict already in exactly the JSON form (what event_to_json wrote), else None for cattrs."""
    if type(raw) is not dict or len(raw) != 8 + ("trace_context" in raw):
        return None
    try:
        data = raw["data"]
        occurred = raw["occurred_at"]
        received = raw["received_at"]
        attempt = raw["attempt"]
        if not (
            type(data) is dict
            and type(occurred) is str
            and type(received) is str
            and type(attempt) is int
            and type(raw["id"]) is str
            and type(raw["type"]) is str
            and type(raw["source"]) is str
            and type(raw["trace_id"]) is str
            and type(raw.get("trace_context", "")) is str
        ):
            return None
        occurred_at = datetime.fromisoformat(occurred)
        received_at = datetime.fromisoformat(received)
    except (KeyError, ValueError):
        return None
    return Event(
        id=raw["id"],
        type=raw["type"],
        data=dict(data) if copy_data else data,
        source=raw["source"],
        occurred_at=occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC),
        received_at=received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC),
        attempt=attempt,
        trace_id=raw["trace_id"],
        trace_context=raw.get("trace_context", ""),
    )
