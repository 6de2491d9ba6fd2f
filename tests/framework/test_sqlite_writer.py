"""The SQLite writer's durability levels: what is fsynced before its caller goes on, and what is not."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from framework.store import sqlite_writer
from framework.store.sqlite import _setup
from framework.store.sqlite_writer import SQLiteWriter
from tests.framework.store_fixtures import watch_fsyncs


def insert(value: int) -> Callable[[sqlite3.Connection], None]:
    def op(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO plugin_state (namespace, key, value) VALUES ('t', ?, '1')", (str(value),))

    return op


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[SQLiteWriter]:
    started = SQLiteWriter(str(tmp_path / "inbox.db"), _setup)
    await started.start()
    yield started
    await started.stop()


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The descriptors fdatasync'ed, in order (the real fdatasync still runs)."""
    return watch_fsyncs(monkeypatch)[1]


async def test_a_durable_operation_returns_only_after_its_log_is_fsynced(
    writer: SQLiteWriter, fsyncs: list[int]
) -> None:
    await writer.run(insert(1))
    assert len(fsyncs) == 1
    log = Path(os.readlink(f"/proc/self/fd/{fsyncs[0]}"))
    assert log.name == "inbox.db-wal"


async def test_a_batch_of_operations_that_need_no_fsync_skips_it(
    writer: SQLiteWriter, fsyncs: list[int]
) -> None:
    await asyncio.gather(*(writer.submit(insert(n), durable=False) for n in range(3)))
    assert fsyncs == []
    await writer.run(insert(3))
    assert len(fsyncs) == 1, "the next durable operation is fsynced again"


async def test_one_durable_operation_makes_its_whole_batch_durable(
    writer: SQLiteWriter, fsyncs: list[int]
) -> None:
    # Submitted in one loop iteration, so they share a batch (one transaction, one fsync).
    light = writer.submit(insert(1), durable=False)
    heavy = writer.submit(insert(2))
    commits = writer.commits
    await asyncio.gather(light, heavy)
    assert writer.commits == commits + 1
    assert len(fsyncs) == 1


def failing_fdatasync(fd: int) -> None:
    """`os.fdatasync` as a failing disk answers it."""
    raise OSError(5, "Input/output error")


def read(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COUNT(*) FROM plugin_state").fetchone()[0])


async def test_a_durable_read_of_changes_already_fsynced_needs_no_fsync_of_its_own(
    writer: SQLiteWriter, fsyncs: list[int]
) -> None:
    # a poll reads a cursor per chat: each read paid a trip to the fsync thread and an fsync of nothing new
    await writer.run(insert(1))
    assert len(fsyncs) == 1
    assert [await writer.run(read) for _ in range(3)] == [1, 1, 1]
    assert len(fsyncs) == 1


async def test_a_durable_read_after_a_change_not_yet_fsynced_waits_for_an_fsync(
    writer: SQLiteWriter, fsyncs: list[int]
) -> None:
    # what the read returns (the row an ack-like write left) must survive a power loss once it is returned
    await writer.run(insert(1), durable=False)
    assert fsyncs == []
    assert await writer.run(read) == 1
    assert len(fsyncs) == 1
    assert await writer.run(read) == 1
    assert len(fsyncs) == 1


async def test_a_durable_read_after_another_connections_commit_waits_for_an_fsync(
    writer: SQLiteWriter, fsyncs: list[int], tmp_path: Path
) -> None:
    # Another process's commit is seen before that process's fsync, and this connection's count of changes
    # cannot tell: what the read returns must not be undone by a power loss once it is returned.
    await writer.run(insert(1))
    assert len(fsyncs) == 1
    other = sqlite3.connect(tmp_path / "inbox.db", isolation_level=None)
    try:
        other.execute("PRAGMA synchronous=OFF")  # as another process's NORMAL commit: no fsync of its own
        other.execute("INSERT INTO plugin_state (namespace, key, value) VALUES ('t', 'other', '1')")
    finally:
        other.close()
    assert await writer.run(read) == 2
    assert len(fsyncs) == 2
    # that fsync covered the other commit: nothing new since, so the next read needs none
    assert await writer.run(read) == 2
    assert len(fsyncs) == 2


async def test_the_durable_mark_rises_once_the_fsync_of_the_batch_that_read_it_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marked = SQLiteWriter(str(tmp_path / "marked.db"), _setup, mark=read)
    await marked.start()
    try:
        gate, _ = watch_fsyncs(monkeypatch, held=True)
        writing = marked.submit(insert(1))
        for _ in range(3):
            await asyncio.sleep(0)  # committed, its fsync held
        assert marked.durable_mark == 0, "the mark rose before the fsync covering it completed"
        gate.set()
        await writing
        assert marked.durable_mark == 1  # read in the batch's transaction, before its commit

        monkeypatch.setattr(os, "fdatasync", failing_fdatasync)
        with pytest.raises(OSError):
            await marked.run(insert(2))
        assert marked.durable_mark == 1, "a failed fsync raised the mark"
    finally:
        await marked.stop()


async def test_a_read_from_another_loop_while_an_fsync_is_under_way_waits_for_an_fsync(
    writer: SQLiteWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Loops of several threads may share the store: the other loop's read sees the commit at once, so it must
    # not return before an fsync that covers the commit has completed.
    gate, _ = watch_fsyncs(monkeypatch, held=True)
    first = writer.submit(insert(1))
    await asyncio.sleep(0)  # committed; its fsync is held
    returned = threading.Event()
    result: list[int] = []

    def other_loop() -> None:
        result.append(asyncio.run(writer.run(read)))
        returned.set()

    thread = threading.Thread(target=other_loop)
    thread.start()
    try:
        assert not await asyncio.to_thread(returned.wait, 0.3), "the read returned before the fsync completed"
    finally:
        gate.set()
        await first
        await asyncio.to_thread(thread.join, 10)
    assert result == [1]


async def test_a_failed_fsync_is_not_taken_for_one_that_covers_the_changes(
    writer: SQLiteWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.fdatasync

    monkeypatch.setattr(os, "fdatasync", failing_fdatasync)
    with pytest.raises(OSError):
        await writer.run(insert(1))
    monkeypatch.setattr(os, "fdatasync", real)
    _, synced = watch_fsyncs(monkeypatch)
    assert await writer.run(read) == 1
    assert len(synced) == 1, "a read after a failed fsync must fsync what it read"


async def test_writes_made_while_an_fsync_is_under_way_share_the_next_one(
    writer: SQLiteWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate, synced = watch_fsyncs(monkeypatch, held=True)
    first = writer.submit(insert(0))
    await asyncio.sleep(0)  # its transaction commits; its fsync starts (and is held)
    later = [writer.submit(insert(n)) for n in range(1, 40)]
    for _ in range(3):
        await asyncio.sleep(0)  # more loop iterations while the first batch waits for its fsync
    later += [writer.submit(insert(n)) for n in range(40, 80)]
    assert writer.commits == 1
    gate.set()
    await asyncio.gather(first, *later)
    assert writer.commits == 2 and len(synced) == 2


async def test_a_failed_fsync_fails_every_write_of_its_batch(
    writer: SQLiteWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "fdatasync", failing_fdatasync)
    writes = [writer.submit(insert(n)) for n in range(3)]
    results = await asyncio.gather(*writes, return_exceptions=True)
    assert all(isinstance(result, OSError) for result in results)
    assert writer.queued == 0


async def test_the_log_is_checkpointed_into_the_database_when_writes_stop(
    writer: SQLiteWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpointed = asyncio.Event()
    loop = asyncio.get_running_loop()
    real = sqlite_writer._Syncer._checkpoint

    def watched(syncer: sqlite_writer._Syncer) -> bool:
        complete = real(syncer)
        loop.call_soon_threadsafe(checkpointed.set)
        return complete

    monkeypatch.setattr(sqlite_writer._Syncer, "_checkpoint", watched)
    await writer.run(insert(1))
    async with asyncio.timeout(5):
        await checkpointed.wait()
    database = f"file:{tmp_path / 'inbox.db'}?mode=ro&immutable=1"  # the database file alone, not the log
    with contextlib.closing(sqlite3.connect(database, uri=True)) as db:
        assert db.execute("SELECT COUNT(*) FROM plugin_state").fetchone()[0] == 1


async def test_under_sustained_writes_the_log_stays_near_its_cap(
    writer: SQLiteWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_writer, "CHECKPOINT_AFTER", 256 * 1024)  # a cap small enough for a test
    restarted = SQLiteWriter(str(tmp_path / "capped.db"), _setup)
    await restarted.start()
    try:

        async def producer(first: int) -> None:
            for n in range(first, first + 300):
                await restarted.run(insert(n))

        # 16 producers writing without a pause: the log never goes idle, so only the checkpoints under load cap it
        await asyncio.gather(*(producer(1000 * p) for p in range(16)))
        log = (tmp_path / "capped.db-wal").stat().st_size
    finally:
        await restarted.stop()
    assert log < 2 * 256 * 1024, f"the log grew to {log} bytes"


async def test_a_writer_waits_for_another_processs_turn_off_the_loop(
    writer: SQLiteWriter, tmp_path: Path
) -> None:
    # flock locks belong to an open file: a descriptor of our own stands for the other process.
    other = os.open(tmp_path / "inbox.db-writer.lock", os.O_RDWR)
    fcntl.flock(other, fcntl.LOCK_EX)
    try:
        write = writer.submit(insert(1), durable=False)
        for _ in range(20):
            await asyncio.sleep(0)  # the loop goes on while the write waits for the turn
        assert not write.done()
        later = writer.submit(insert(2))
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
    async with asyncio.timeout(5):
        await asyncio.gather(write, later)
    assert writer.commits == 2


def test_writers_of_several_processes_open_a_new_file_at_once(tmp_path: Path) -> None:
    """`chatwright run --processes N` opens the store in every process at once: two connections switching a new
    file to WAL at the same moment made SQLite answer "database is locked" without waiting, about one start in 25
    (here two writers, each on a loop of its own thread, race 40 times)."""
    errors: list[BaseException] = []

    async def open_and_close(path: str, barrier: threading.Barrier) -> None:
        writer = SQLiteWriter(path, _setup)
        barrier.wait()
        try:
            await writer.start()
        except Exception as error:
            errors.append(error)
            return
        await writer.stop()

    for attempt in range(40):
        path, barrier = str(tmp_path / f"inbox{attempt}.db"), threading.Barrier(2)
        threads = [
            threading.Thread(target=asyncio.run, args=(open_and_close(path, barrier),)) for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors[:3]
