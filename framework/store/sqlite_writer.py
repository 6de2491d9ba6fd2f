"""A single thread owning one SQLite connection, committing queued operations in batches (group commit).

Every operation is a function of the connection. Operations that arrive while a commit is under way wait and
are committed together in the next transaction, so with `synchronous=FULL` many concurrent appends share one
fsync instead of paying one each. Each operation runs inside a savepoint: one that raises is rolled back alone
and its caller gets the error; the others still commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["SQLiteWriter"]

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], Any]

_STOP = object()
MAX_BATCH = 512


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class SQLiteWriter:
    """Runs operations on a dedicated thread; `await writer.run(op)` returns op's result once committed."""

    def __init__(self, path: str, setup: Callable[[sqlite3.Connection], None]) -> None:
        self._path = path
        self._setup = setup
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.commits = 0

    async def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=f"sqlite-writer:{self._path}", daemon=True)
        self._thread.start()
        await asyncio.get_running_loop().run_in_executor(None, self._ready.wait)
        if self._startup_error is not None:
            raise self._startup_error

    async def stop(self) -> None:
        if self._thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        self._thread = None

    async def run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        if self._thread is None:
            raise RuntimeError("the SQLite store is not open: await store.open() first")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((operation, future, loop))
        return await future

    def _main(self) -> None:
        try:
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
            self._setup(connection)
        except BaseException as error:
            self._startup_error = error
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                batch = [first]
                while len(batch) < MAX_BATCH:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        self._queue.put(_STOP)
                        break
                    batch.append(item)
                self._commit(connection, batch)
        finally:
            connection.close()

    def _commit(self, connection: sqlite3.Connection, batch: list[Any]) -> None:
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            connection.execute("BEGIN IMMEDIATE")
            for operation, _, _ in batch:
                connection.execute("SAVEPOINT op")
                try:
                    outcomes.append((operation(connection), None))
                    connection.execute("RELEASE op")
                except Exception as error:
                    connection.execute("ROLLBACK TO op")
                    connection.execute("RELEASE op")
                    outcomes.append((None, error))
            connection.execute("COMMIT")
            self.commits += 1
        except Exception as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            outcomes = [(None, error)] * len(batch)
        for (_, future, loop), (result, failure) in zip(batch, outcomes, strict=True):
            with contextlib.suppress(RuntimeError):  # the caller's loop is closed; nobody waits any more
                loop.call_soon_threadsafe(_settle, future, result, failure)
