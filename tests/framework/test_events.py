"""Event: ids, defaults and a lossless JSON round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest

from framework import jsoncodec
from framework.events import Event, event_from_dict, event_from_json, event_to_dict, event_to_json, new_event


def test_round_trip_keeps_every_field() -> None:
    event = Event(
        id="evt-1",
        type="shift.published",
        data={
            "title": "Morning",
            "workers": ["3158", 120915],
            "nested": {"ok": True, "ratio": 0.25, "none": None},
        },
        source="webhook:/hooks/shifts",
        occurred_at=datetime(2024, 1, 5, 20, 13, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        received_at=datetime(2024, 1, 5, 18, 13, 1, tzinfo=UTC),
        attempt=3,
        trace_id="trace-9",
    )
    restored = event_from_json(event_to_json(event))
    assert restored == event
    assert restored.occurred_at.utcoffset() == timedelta(hours=2)


def test_new_event_has_fresh_id_and_traces_itself() -> None:
    first, second = new_event("a.b"), new_event("a.b")
    assert first.id != second.id
    assert first.trace_id == first.id
    assert first.attempt == 1
    assert first.received_at.tzinfo is not None


def test_naive_timestamps_from_json_are_taken_as_utc() -> None:
    raw = b'{"id":"x","type":"t","occurred_at":"2024-01-05T20:13:00","received_at":"2024-01-05T20:13:00"}'
    event = event_from_json(raw)
    assert event.occurred_at.tzinfo is UTC


@attrs.define
class _Point:
    x: int
    when: datetime


def test_data_values_without_a_json_form_are_unstructured_as_cattrs_does() -> None:
    when = datetime(2024, 1, 5, 20, 13, 0, 5, tzinfo=UTC)
    event = new_event("a.b", {"point": _Point(1, when), "at": when})
    restored = event_from_json(event_to_json(event))
    assert restored.data == {
        "point": {"x": 1, "when": "2024-01-05T20:13:00.000005+00:00"},
        "at": "2024-01-05T20:13:00.000005+00:00",
    }
    assert json.loads(event_to_json(event)) == json.loads(jsoncodec.dumps(event_to_dict(event)))


def test_stored_events_with_loose_types_still_go_through_the_converter() -> None:
    raw = {
        "id": "x",
        "type": "t",
        "data": {},
        "source": "",
        "occurred_at": "2024-01-05T20:13:00Z",
        "received_at": "2024-01-05T20:13:00+00:00",
        "attempt": "2",
        "trace_id": "x",
    }
    event = event_from_dict(raw)
    assert event.attempt == 2
    assert event.occurred_at == datetime(2024, 1, 5, 20, 13, tzinfo=UTC)


def test_a_decoded_event_does_not_share_the_callers_data() -> None:
    raw = json.loads(event_to_json(new_event("a.b", {"k": 1})))
    event = event_from_dict(raw)
    raw["data"]["k"] = 2
    assert event.data == {"k": 1}


@pytest.mark.parametrize("microsecond", [0, 5, 123456])
def test_utc_timestamps_are_written_as_isoformat_writes_them(microsecond: int) -> None:
    moment = datetime(2024, 1, 5, 20, 13, 0, microsecond, tzinfo=UTC)
    event = new_event("a.b", {"k": 1}, occurred_at=moment)
    written = json.loads(event_to_json(event))
    assert written["occurred_at"] == moment.isoformat()
    assert written["received_at"] == event.received_at.isoformat()
    assert event_from_json(event_to_json(event)) == event


def test_an_offset_with_seconds_survives_the_round_trip() -> None:
    moment = datetime(1890, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=53, seconds=28)))
    event = new_event("a.b", occurred_at=moment)
    assert json.loads(event_to_json(event))["occurred_at"] == "1890-01-01T12:00:00+05:53:28"
    assert event_from_json(event_to_json(event)).occurred_at.utcoffset() == moment.utcoffset()


def test_a_trace_context_survives_the_round_trip_and_is_left_out_when_empty() -> None:
    traced = new_event(
        "a.b", {"k": 1}, trace_context="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    )
    assert event_from_json(event_to_json(traced)) == traced
    assert event_from_dict(event_to_dict(traced)) == traced
    plain = new_event("a.b")
    assert "trace_context" not in json.loads(event_to_json(plain))
    assert "trace_context" not in event_to_dict(plain)
