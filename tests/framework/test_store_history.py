"""The event history every Store keeps for the admin console: each finished attempt with its event, outcome,
handlers and step records, searchable, newest first, bounded by count and age - on SQLite and Redis alike."""

from __future__ import annotations

import contextlib
import sqlite3
import time

from framework import jsoncodec
from framework.events import Event, new_event
from framework.store.base import Finished, HistoryQuery, Store
from framework.store.sqlite import SQLiteStore
from tests.framework.store_fixtures import redis_url as redis_url
from tests.framework.store_fixtures import store as store
from tests.framework.store_fixtures import store_url as store_url

OK = Finished("done", 0.25, jsoncodec.dumps([{"handler": "p.h", "outcome": "ok"}]))


def _failed(outcome: str) -> Finished:
    return Finished(outcome, 0.5, jsoncodec.dumps([{"handler": "p.h", "outcome": "failed", "error": "E: x"}]))


async def test_an_acked_event_is_kept_with_its_payload_outcome_and_step_records(store: Store) -> None:
    event = new_event("shift.published", {"id": "s1"})
    await store.append(event)
    (entry,) = await store.claim("w", 1, lease=30)
    await store.record_step(event.id, "p.h|send|x|1", b'{"state":"done","result":{"id":"m1"}}', 60)
    await store.ack(event.id, OK)
    (kept,) = await store.history(HistoryQuery())
    assert kept.event == entry.event
    assert (kept.attempt, kept.outcome, kept.duration) == (1, "done", 0.25)
    assert kept.handlers == [{"handler": "p.h", "outcome": "ok"}]
    assert kept.steps == {"p.h|send|x|1": {"state": "done", "result": {"id": "m1"}}}
    assert abs(kept.handled_at.timestamp() - time.time()) < 60
    assert await store.load_steps(event.id) == {}  # the step journal itself still leaves with the ack


async def test_every_attempt_is_kept_and_searchable_by_id_type_and_outcome(store: Store) -> None:
    retried, other = new_event("a"), new_event("b")
    for event in (retried, other):
        await store.append(event)
    await store.claim("w", 2, lease=30)
    await store.retry_later(retried.id, 0, "E: x", _failed("retry"))
    await store.ack(other.id, OK)
    await store.claim("w", 1, lease=30)
    await store.dead_letter(retried.id, "E: x", _failed("dead"))
    newest_first = await store.history(HistoryQuery())
    assert [(e.event.id, e.attempt, e.outcome) for e in newest_first] == [
        (retried.id, 2, "dead"),
        (other.id, 1, "done"),
        (retried.id, 1, "retry"),
    ]
    by_id = await store.history(HistoryQuery(event_id=retried.id))
    assert [e.outcome for e in by_id] == ["dead", "retry"]
    assert [e.event.id for e in await store.history(HistoryQuery(type="b"))] == [other.id]
    assert [e.event.id for e in await store.history(HistoryQuery(outcome="retry"))] == [retried.id]
    assert len(await store.history(HistoryQuery(limit=1))) == 1


async def test_an_ack_without_finished_leaves_no_history(store: Store) -> None:
    event = new_event("a")
    await store.append(event)
    await store.claim("w", 1, lease=30)
    await store.ack(event.id)
    assert await store.history(HistoryQuery()) == []


async def _handled(store: Store, count: int) -> list[Event]:
    """`count` new events appended, claimed and acked in order, each with a history entry."""
    events = [new_event("a") for _ in range(count)]
    for event in events:
        await store.append(event)
    await store.claim("w", count, lease=30)
    for event in events:
        await store.ack(event.id, OK)
    return events


async def test_the_history_keeps_the_newest_history_size_entries(store: Store) -> None:
    store.history_size = 3
    events = await _handled(store, 5)
    kept = await store.history(HistoryQuery())
    assert [e.event.id for e in kept] == [e.id for e in reversed(events[2:])]


async def test_a_larger_history_shows_exactly_its_newest_history_size_and_keeps_at_most_1_percent_more(
    store: Store,
) -> None:
    # the SQLite store trims the table once a hundredth of history_size rows were added, not in every ack
    store.history_size = 300
    events = await _handled(store, 451)
    kept = await store.history(HistoryQuery(limit=1000))
    assert [e.event.id for e in kept] == [e.id for e in reversed(events[151:])]
    if isinstance(store, SQLiteStore):
        with contextlib.closing(sqlite3.connect(store.path)) as db:
            (rows,) = db.execute("SELECT COUNT(*) FROM history").fetchone()
        assert 300 <= rows <= 303


async def test_entries_older_than_history_age_are_dropped(store: Store) -> None:
    event = new_event("a")
    await store.append(event)
    await store.claim("w", 1, lease=30)
    await store.ack(event.id, OK)
    store.history_age = 0.0
    assert await store.history(HistoryQuery()) == []


async def test_a_discarded_dead_letter_is_gone_with_its_step_records(store: Store) -> None:
    event = new_event("a")
    await store.append(event)
    await store.claim("w", 1, lease=30)
    await store.record_step(event.id, "h|op|d|1", b'{"state":"done"}', 60)
    await store.dead_letter(event.id, "boom")
    assert await store.discard(event.id)
    assert not await store.discard(event.id)
    assert await store.dead_letters() == []
    assert not await store.replay(event.id)
    assert await store.load_steps(event.id) == {}
