"""What only the SQLite store does: group commit, and releasing claims of dead local processes at once (the
behaviours every store shares are in test_store_contract.py)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from framework.events import event_to_json, new_event
from framework.store.sqlite import SQLiteStore
from tests.conftest import wait_until
from tests.framework.store_fixtures import sqlite_inbox, watch_fsyncs  # noqa: F401 - the `store` fixture


async def test_concurrent_appends_share_commits(store: SQLiteStore) -> None:
    before = store.commits
    await asyncio.gather(*(store.append(new_event("a")) for _ in range(200)))
    assert await store.pending() == 200
    assert store.commits - before < 200


async def test_claims_of_a_dead_local_process_are_released_on_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/inbox.db"
    first = SQLiteStore(url)
    await first.open()
    await first.append(new_event("a"))
    import socket

    await first.claim(f"{socket.gethostname()}:999999999:abc", 1, lease=3600)
    await first.close()
    second = SQLiteStore(url)
    await second.open()
    try:
        assert len(await second.claim("w", 1, lease=30)) == 1
    finally:
        await second.close()


async def test_events_stored_as_bytes_by_earlier_versions_are_still_claimed(store: SQLiteStore) -> None:
    event = new_event("old.row", {"n": 1})
    # Before 2026-12, appends stored the event's JSON as a BLOB; now as text. An inbox may hold both.
    with contextlib.closing(sqlite3.connect(store.path, isolation_level=None)) as db:
        db.execute(
            "INSERT INTO inbox (event_id, event, available_at) VALUES (?, ?, 0)",
            (event.id, event_to_json(event)),
        )
    await store.append(new_event("new.row"))
    claimed = await store.claim("w", 10, lease=30)
    assert [entry.event.type for entry in claimed] == ["old.row", "new.row"]
    assert claimed[0].event.data == {"n": 1}


async def test_acks_made_while_the_writer_is_busy_join_one_delete_and_none_is_lost(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = [new_event("x", {"n": n}) for n in range(12)]
    for event in events:
        await store.append(event)
    assert len(await store.claim("w", 12, lease=30)) == 12
    gate, _ = watch_fsyncs(monkeypatch, held=True)
    busy = store._writer.submit(lambda _: None)  # its fsync holds the writer, so the acks below wait for it
    await asyncio.sleep(0)  # its transaction commits; the fsync starts
    try:
        first = [asyncio.ensure_future(store.ack(event.id)) for event in events[:4]]
        await asyncio.sleep(0)  # the tasks run their first step: their acks are made
        second = [asyncio.ensure_future(store.ack(event.id)) for event in events[4:8]]
        await asyncio.sleep(0)  # a later loop iteration: these still join the batch the writer has not begun
        assert store._acks is not None and len(store._acks.seqs) == 8
    finally:
        gate.set()
    await busy
    await asyncio.gather(*first, *second)
    assert store._acks.sealed  # the writer took the batch up: a later ack starts a new one
    await asyncio.gather(*(store.ack(event.id) for event in events[8:]))
    assert await store.pending() == 0


async def test_step_records_leave_the_file_with_their_event(store: SQLiteStore) -> None:
    acked, dead = new_event("a"), new_event("b")
    for event in (acked, dead):
        await store.append(event)
    await store.claim("w", 2, lease=30)
    for event in (acked, dead):
        await store.record_step(event.id, "h|op|d|1", b'{"state":"done"}', 60)
    await store.ack(acked.id)
    await store.dead_letter(dead.id, "boom")

    def rows() -> int:
        with contextlib.closing(sqlite3.connect(store.path, isolation_level=None)) as db:
            count: int = db.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
            return count

    assert rows() == 0  # the dead letter holds its records in its own row until a replay
    assert await store.replay(dead.id)
    assert rows() == 1


async def test_no_event_another_process_appended_is_handed_out_before_its_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process's append is visible once committed, before its fsync: a claim that ran its handler then
    # could make a provider call for an event that a power loss takes back, and whose sender, never answered
    # 202, sends it again. However the processes were started (`--processes`, separate runs, a command).
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    appender, claimer = SQLiteStore(url), SQLiteStore(url)  # each its own connection, writer and fsync thread
    await appender.open()
    await claimer.open()
    gate, _ = watch_fsyncs(monkeypatch, held=True)
    try:
        commits = appender.commits
        appending = asyncio.ensure_future(appender.append(new_event("a")))
        await wait_until(lambda: appender.commits > commits, timeout=5)  # committed; its fsync is held
        claiming = asyncio.ensure_future(claimer.claim("w", 10, lease=30))
        done, _ = await asyncio.wait({claiming}, timeout=0.3)
        assert not done, "a claim handed out an event before an fsync covering its append"
        gate.set()
        await appending
        assert len(await claiming) == 1
    finally:
        gate.set()
        await claimer.close()
        await appender.close()


async def test_a_claim_of_this_processs_own_appends_waits_for_no_fsync(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, fsyncs = watch_fsyncs(monkeypatch)
    await asyncio.gather(*(store.append(new_event("a")) for _ in range(3)))
    assert len(fsyncs) == 1
    assert len(await store.claim("w", 10, lease=30)) == 3
    assert len(fsyncs) == 1
