"""A single thread owning one SQLite connection, committing queued operations in batches (group commit).

Every operation is a function of the connection. Operations that arrive while a commit is under way wait and
are committed together in the next transaction, so with `synchronous=FULL` many concurrent appends share one
fsync instead of paying one each. An operation that raises is rolled back alone and its caller gets the error;
the others still commit. (A batch runs without savepoints first; only when one of its operations raises is the
transaction rolled back and the batch run again with one savepoint per operation, which costs two statements
each.) Operations submitted during one event loop iteration reach the thread as one item (one wakeup), and
results go back to each event loop in one thread-safe call per batch, not one per operation. When nothing has
come for IDLE_AFTER seconds after a commit, the thread runs the `idle` hook (the store checkpoints its WAL
there, off the hot path). Operations submitted as not durable (claims, acks: what a power loss may undo
without losing an event) skip the fsync when their batch holds nothing else.

Writers of several processes on one file (`chatwright run --processes N`) take turns through an advisory lock
on `<file>-writer.lock` around each transaction: a writer that finds the file's write lock taken then sleeps in
the kernel until it is free, where SQLite's busy handler would poll it with sleeps of 1-100 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["SQLiteWriter"]

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], Any]
Pending = tuple[Operation, "asyncio.Future[Any]", asyncio.AbstractEventLoop, bool]
"""An operation, the future its caller awaits, that caller's loop, and whether its commit must be durable."""

_STOP = object()
MAX_BATCH = 512
IDLE_AFTER = 0.05
"""Seconds without work after a commit before the writer runs its `idle` hook."""


Outcome = tuple[Any, BaseException | None]


def _reply(batch: list[Pending], outcomes: list[Outcome], counter: _Queued) -> None:
    """Hand each caller its outcome: one thread-safe call per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
    for (_, future, loop, _), (result, failure) in zip(batch, outcomes, strict=True):
        by_loop.setdefault(loop, []).append((future, result, failure))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the caller's loop is closed; nobody waits any more
            loop.call_soon_threadsafe(_settle, settled, counter)


def _settle(settled: list[tuple[asyncio.Future[Any], Any, BaseException | None]], counter: _Queued) -> None:
    counter.count -= len(settled)
    for future, result, error in settled:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


def _lock_file(path: str) -> int | None:
    """The descriptor of the file whose lock writers of other processes take turns on (None for `:memory:`)."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return os.open(f"{path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o644)


@contextlib.contextmanager
def _turn(lock: int | None) -> Iterator[None]:
    if lock is None:
        yield
        return
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)


class _Queued:
    """Operations submitted and not yet settled (counted on the event loop's side only)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class SQLiteWriter:
    """Runs operations on a dedicated thread; `await writer.run(op)` returns op's result once committed."""

    def __init__(
        self,
        path: str,
        setup: Callable[[sqlite3.Connection], None],
        idle: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        self._path = path
        self._setup = setup
        self._idle = idle
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending: dict[asyncio.AbstractEventLoop, list[Pending]] = {}
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.commits = 0
        self._queued = _Queued()
        self._level = ""
        """The `synchronous` level this writer last set on its connection ("" before the first commit)."""
        self._lock: int | None = None

    async def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=f"sqlite-writer:{self._path}", daemon=True)
        self._thread.start()
        await asyncio.get_running_loop().run_in_executor(None, self._ready.wait)
        if self._startup_error is not None:
            raise self._startup_error

    async def stop(self) -> None:
        if self._thread is None:
            return
        for loop in list(self._pending):
            self._flush(loop)
        self._queue.put(_STOP)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        self._thread = None

    async def run(self, operation: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        return await self.submit(operation, durable=durable)

    def submit(
        self, operation: Callable[[sqlite3.Connection], T], *, durable: bool = True
    ) -> asyncio.Future[T]:
        """Queue `operation`; the future is done once its batch is committed (or it failed alone).

        A `durable` operation (the default) is committed with synchronous=FULL: the write-ahead log is fsynced
        before its future is done. A batch holding only operations that are not durable is committed with
        synchronous=NORMAL, without that wait: it survives a crash of the process, and a power loss can undo it
        only until the next durable commit, whose fsync covers the log it is in. A batch holding both is durable.
        """
        if self._thread is None:
            raise RuntimeError("the SQLite store is not open: await store.open() first")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._flush, loop)
        pending.append((operation, future, loop, durable))
        self._queued.count += 1
        return future

    @property
    def queued(self) -> int:
        """Operations submitted and not yet committed (or failed)."""
        return self._queued.count

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hand what this loop submitted during one iteration to the writer thread in one piece (one wakeup)."""
        pending = self._pending.pop(loop, None)
        if pending:
            self._queue.put(pending)

    def _main(self) -> None:
        try:
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
            self._lock = _lock_file(self._path)
            self._setup(connection)
        except BaseException as error:
            self._startup_error = error
            self._ready.set()
            return
        self._ready.set()
        committed = False
        try:
            while True:
                try:
                    first = self._queue.get(timeout=IDLE_AFTER) if committed else self._queue.get()
                except queue.Empty:
                    committed = False
                    if self._idle is not None:
                        with contextlib.suppress(sqlite3.Error):
                            self._idle(connection)
                    continue
                if first is _STOP:
                    return
                batch = list(first)
                while len(batch) < MAX_BATCH:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        self._queue.put(_STOP)
                        break
                    batch.extend(item)
                self._commit(connection, batch)
                committed = self._idle is not None
        finally:
            connection.close()
            if self._lock is not None:
                os.close(self._lock)

    def _commit(self, connection: sqlite3.Connection, batch: list[Pending]) -> None:
        durable = any(pending[3] for pending in batch)
        self._synchronous(connection, "FULL" if durable else "NORMAL")
        with _turn(self._lock):
            outcomes = self._transaction(connection, batch)
        _reply(batch, outcomes, self._queued)

    def _synchronous(self, connection: sqlite3.Connection, level: str) -> None:
        if self._level != level:
            connection.execute(f"PRAGMA synchronous={level}")
            self._level = level

    def _transaction(self, connection: sqlite3.Connection, batch: list[Pending]) -> list[Outcome]:
        """Run the batch in one transaction and commit it; each operation's result or error."""
        outcomes: list[Outcome]
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                outcomes = [(operation(connection), None) for operation, _, _, _ in batch]
            except Exception as error:
                connection.execute("ROLLBACK")
                if len(batch) == 1:
                    outcomes = [(None, error)]
                else:
                    connection.execute("BEGIN IMMEDIATE")
                    outcomes = [self._isolated(connection, operation) for operation, _, _, _ in batch]
            if connection.in_transaction:
                connection.execute("COMMIT")
                self.commits += 1
        except Exception as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            outcomes = [(None, error)] * len(batch)
        return outcomes

    @staticmethod
    def _isolated(connection: sqlite3.Connection, operation: Operation) -> Outcome:
        """Run one operation in a savepoint: if it raises, only its own changes are undone."""
        connection.execute("SAVEPOINT op")
        try:
            result = operation(connection)
        except Exception as error:
            connection.execute("ROLLBACK TO op")
            connection.execute("RELEASE op")
            return None, error
        connection.execute("RELEASE op")
        return result, None
