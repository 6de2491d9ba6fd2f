"""Event: ids, defaults and a lossless JSON round trip."""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest

from framework import jsoncodec
from framework.events import Event, event_from_dict, event_from_json, event_to_dict, event_to_json, new_event
from framework.store.sqlite import _remember, _setup


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


def test_event_ids_are_uuid7s_so_ids_made_later_sort_later() -> None:
    first = new_event("a.b").id
    deadline = time.monotonic() + 1.0
    while (later := new_event("a.b").id)[:12] == first[:12] and time.monotonic() < deadline:
        pass  # until the next millisecond
    assert [uuid.UUID(id).version for id in (first, later)] == [7, 7]
    assert uuid.UUID(first).variant == uuid.RFC_4122
    assert later > first


def test_the_dedupe_keys_of_new_events_fill_the_end_of_the_index_not_random_pages(tmp_path: Path) -> None:
    # What each commit writes to the log: a service keeps a week of keys, and a key on a page of its own costs a
    # page per append (4 KB written, fsynced and checkpointed).
    path = tmp_path / "inbox.db"
    db = sqlite3.connect(path, isolation_level=None)
    _setup(db)
    db.execute("PRAGMA wal_autocheckpoint=0")
    now = time.time()
    db.execute("BEGIN")
    for _ in range(20_000):
        _remember(db, new_event("a.b").id, 3600.0, now)
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("BEGIN")
    for _ in range(32):
        _remember(db, new_event("a.b").id, 3600.0, now)
    db.execute("COMMIT")
    frames = (os.path.getsize(f"{path}-wal") - 32) // (4096 + 24)
    db.close()
    # uuid4 ids: 30-46 pages (a leaf each, wherever it is); time-ordered ones: 1-10 (the index's last leaf, and
    # when it splits, its neighbours and their parent)
    assert frames <= 15, f"a commit of 32 new keys wrote {frames} pages"


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
