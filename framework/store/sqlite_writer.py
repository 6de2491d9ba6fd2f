"""One SQLite connection written from the event loop, made durable by one fsync thread (group commit).

Operations (functions of the connection) submitted during one event loop iteration run as one transaction, on
the loop's own thread, at the end of that iteration: an operation that raises is rolled back alone and its
caller gets the error; the others still commit. (A batch runs without savepoints first; only when one of its
operations raises is the transaction rolled back and the batch run again with one savepoint per operation.)

The transaction commits with `synchronous=NORMAL`: its pages are written to the write-ahead log, not yet
fsynced. A batch holding a durable operation (the default) is then handed to the fsync thread, which fsyncs the
log and settles the batch's futures; until it has, the loop's next operations wait and join one transaction, so
at load many appends share one fsync. A durable batch that changed nothing (reads: a cursor, a plugin's state)
needs no fsync of its own when every change it can see is covered by an fsync that has completed: every change
this connection committed (its count of changes), and every commit of another connection, in this process or
another (SQLite's `data_version`: one process sees another's commit before that process's fsync). A batch of
operations submitted as not durable (claims, acks: what a power loss may undo without losing an event) is settled
at once: no fsync, no thread. That is `synchronous=FULL`'s promise where it is asked for, with the fsync off the
loop and no thread hand-over for the SQL itself: on one core, a writer thread would pay two thread switches and the
GIL's hand-overs for every batch.

The log is checkpointed into the database by the fsync thread, on a connection of its own with
`synchronous=FULL` (so the database is fsynced before any of the log is written over): when nothing has come for
IDLE_AFTER seconds after an fsync, and, while the writers wait, when the log has grown past CHECKPOINT_AFTER
bytes. The writing connection never checkpoints itself (`wal_autocheckpoint=0`): that would copy pages and fsync
on the loop.

Writers of several processes on one file (`chatwright run --processes N`) take turns through an advisory lock
on `<file>-writer.lock` around each transaction. A writer that finds it taken waits for it on a thread, not on the
loop, sleeping in the kernel until it is free (SQLite's busy handler would poll with sleeps of 1-100 ms); the
loop's later operations wait for that batch. The fsyncs are outside the turn, so one process's fsync does not
hold up the others' transactions, and one fsync covers every commit in the log before it, whichever process
wrote it.
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
from typing import Any, NamedTuple, TypeVar

__all__ = ["SQLiteWriter", "setup_turn"]

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], Any]
Pending = tuple[Operation, "asyncio.Future[Any]", bool]
"""An operation, the future its caller awaits, and whether its commit must be durable."""
Outcome = tuple[Any, BaseException | None]
Settled = list[tuple["asyncio.Future[Any]", Any, BaseException | None]]


class Seen(NamedTuple):
    """What a durable batch's transaction read before its commit: once an fsync after that commit completes,
    all of it is durable."""

    mark: int
    """What the writer's `mark` function read (the store: the inbox's highest seq)."""
    version: int
    """SQLite's `data_version`: it changes whenever another connection commits."""


NOTHING_SEEN = Seen(0, -1)
"""What a batch that needs no fsync saw: it is not durable, or it was rolled back (its callers get its error)."""
Transacted = tuple[list[Outcome], Seen]

_STOP = object()
MAX_BATCH = 512
IDLE_AFTER = 0.05
"""Seconds without an fsync to make after the last one before the fsync thread checkpoints the log."""
CHECKPOINT_AFTER = 40 * 2**20
"""Bytes the log may grow to under sustained writes before the fsync thread checkpoints it into the database.

A checkpoint copies each page the log holds into the database once, however often it was rewritten since the
last one: events with random ids dirty a page or two each, so checkpointing every few hundred commits (SQLite's
default, 1,000 pages) would cost a third of an append's time. Once checkpointed, the log is written over from its
start, so the file grows again only when that much more has been written since."""


def _lock_file(path: str) -> int | None:
    """The descriptor of the file whose lock writers of other processes take turns on (None for `:memory:`)."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return os.open(f"{path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o644)


def _try_turn(lock: int) -> bool:
    """Take the file's turn if no other process holds it."""
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


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


@contextlib.contextmanager
def setup_turn(path: str) -> Iterator[None]:
    """The file's turn, for a connection's setup: two connections switching a new file to WAL at once make SQLite
    answer "database is locked" at once, without waiting (its busy handler is not called where waiting could
    deadlock). The processes of a host open their files at the same moment."""
    lock = _lock_file(path)
    try:
        with _turn(lock):
            yield
    finally:
        if lock is not None:
            os.close(lock)


def _outcomes(done: asyncio.Future[Transacted], count: int) -> Transacted:
    """A transaction's outcomes and what it saw, or its failure for each of its operations (the turn could not
    be taken)."""
    failure = done.exception()
    return ([(None, failure)] * count, NOTHING_SEEN) if failure is not None else done.result()


class _Queued:
    """Operations submitted and not yet settled."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


def _settle(settled: Settled, counter: _Queued, failure: BaseException | None = None) -> None:
    """Hand each caller its outcome (or the fsync's `failure`, which leaves every write of the batch in doubt)."""
    counter.count -= len(settled)
    for future, result, error in settled:
        if future.done():
            continue
        error = error or failure
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class _Syncer:
    """The thread that fsyncs the log for committed durable batches, and checkpoints it into the database."""

    def __init__(
        self,
        path: str,
        counter: _Queued,
        writers_held: Callable[[], contextlib.AbstractContextManager[None]],
    ) -> None:
        self._path = path
        self._counter = counter
        self._writers_held = writers_held
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._log = os.open(f"{path}-wal", os.O_RDWR | os.O_CREAT, 0o644)
        # SQLite syncs the directory of a log it creates at its first fsync, which a NORMAL commit never makes:
        # the log's name must be durable before anything in it can be.
        directory = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_past = CHECKPOINT_AFTER
        """The log's size past which it is checkpointed under load: CHECKPOINT_AFTER, or where a checkpoint that
        could not take all of the log (a reader held part of it) left it."""
        self._thread = threading.Thread(target=self._main, name=f"sqlite-fsync:{path}", daemon=True)
        self.syncs = 0
        self._thread.start()

    def sync(
        self, loop: asyncio.AbstractEventLoop, settled: Settled, synced: Callable[[OSError | None], None]
    ) -> None:
        """Fsync the log, then settle `settled` and call `synced` with the fsync's failure (None) on `loop`."""
        self._queue.put((loop, settled, synced))

    def stop(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()
        os.close(self._log)

    def _main(self) -> None:
        synced = False
        try:
            while True:
                try:
                    first = self._queue.get(timeout=IDLE_AFTER) if synced else self._queue.get()
                except queue.Empty:
                    synced = False
                    self._checkpoint()
                    continue
                batches = [first]
                with contextlib.suppress(queue.Empty):
                    while True:
                        batches.append(self._queue.get_nowait())
                stopping = _STOP in batches
                batches = [batch for batch in batches if batch is not _STOP]
                if batches:
                    self._sync(batches)
                    synced = True
                if stopping:
                    return
        finally:
            if self._checkpointer is not None:
                self._checkpointer.close()

    def _sync(
        self, batches: list[tuple[asyncio.AbstractEventLoop, Settled, Callable[[OSError | None], None]]]
    ) -> None:
        failure: OSError | None = None
        try:
            os.fdatasync(self._log)
            self.syncs += 1
        except OSError as error:
            failure = error
        size = os.fstat(self._log).st_size
        if size > self._checkpoint_past:
            # Under sustained writes the log is checkpointed while its writers wait (the batches just synced are
            # not settled yet, so their loops' next batches wait too): with writes going on, a checkpoint would
            # never catch up with the end of the log, which could then never be written over and would grow.
            with self._writers_held():
                complete = self._checkpoint()
            self._checkpoint_past = CHECKPOINT_AFTER if complete else size
        for loop, settled, done in batches:
            with contextlib.suppress(RuntimeError):  # the caller's loop is closed; nobody waits any more
                loop.call_soon_threadsafe(self._done, settled, done, failure)

    def _checkpoint(self) -> bool:
        """Copy the log into the database (PASSIVE: never waits for readers); whether it took all of it."""
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(self._path, isolation_level=None)
            # FULL: the database is fsynced before the checkpoint lets the log be written over.
            self._checkpointer.execute("PRAGMA synchronous=FULL")
        try:
            busy, frames, copied = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            return False
        return not busy and frames == copied

    def _done(
        self, settled: Settled, synced: Callable[[OSError | None], None], failure: OSError | None
    ) -> None:
        _settle(settled, self._counter, failure)
        synced(failure)


class SQLiteWriter:
    """Writes through one connection; `await writer.run(op)` returns op's result once committed (and fsynced)."""

    def __init__(
        self,
        path: str,
        setup: Callable[[sqlite3.Connection], None],
        mark: Callable[[sqlite3.Connection], int] | None = None,
    ) -> None:
        self._path = path
        self._setup = setup
        self._mark = mark
        """Read in each durable batch's transaction before it commits: once that batch's fsync has completed,
        `durable_mark` is at least what it read (the store reads the inbox's highest seq)."""
        self.durable_mark = 0
        self._connection: sqlite3.Connection | None = None
        self._syncer: _Syncer | None = None
        self._transacting = threading.Lock()
        """One transaction at a time: the loops of several threads may share the store."""
        self._pending: dict[asyncio.AbstractEventLoop, list[Pending]] = {}
        self._busy: set[asyncio.AbstractEventLoop] = set()
        """Loops whose last batch waits for its fsync (or for another process's turn on the file): their next
        batch waits for it."""
        self._queued = _Queued()
        self._lock: int | None = None
        self.commits = 0
        self._synced_changes = -1
        """The connection's `total_changes` when the latest completed fsync began: while it still reads so, every
        change this connection committed is in fsynced log (-1: none yet)."""
        self._synced_version = NOTHING_SEEN.version
        """The `data_version` a batch covered by a completed fsync read: while a batch reads the same, no other
        connection has committed since, and every other connection's commit it sees is in fsynced log."""

    @property
    def syncs(self) -> int:
        """Fsyncs of the log so far (durable batches committed together share one)."""
        return 0 if self._syncer is None else self._syncer.syncs

    async def start(self) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            self._lock = _lock_file(self._path)
            with _turn(self._lock):  # as `setup_turn`, on the descriptor the writer keeps
                self._setup(connection)
            if self._lock is not None:
                connection.execute("PRAGMA wal_autocheckpoint=0")
                connection.execute("PRAGMA synchronous=NORMAL")
                # Once checkpointed, the log is written over from its start; the first commit after that cuts the
                # file back to the cap, so its size says when that much has been written again.
                connection.execute(f"PRAGMA journal_size_limit={CHECKPOINT_AFTER}")
                self._syncer = _Syncer(self._path, self._queued, self._writers_held)
        except BaseException:
            connection.close()
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None
            raise
        self._connection = connection

    async def stop(self) -> None:
        if self._connection is None:
            return
        loop = asyncio.get_running_loop()
        if self._pending.get(loop) or loop in self._busy:
            await self.submit(lambda _: None, durable=False)  # after everything submitted before it
        if self._syncer is not None:
            await loop.run_in_executor(None, self._syncer.stop)
            self._syncer = None
        with self._transacting:
            self._connection.close()
            self._connection = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    async def run(self, operation: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        return await self.submit(operation, durable=durable)

    def submit(
        self, operation: Callable[[sqlite3.Connection], T], *, durable: bool = True
    ) -> asyncio.Future[T]:
        """Queue `operation`; the future is done once its batch is committed (or it failed alone).

        A `durable` operation (the default) is settled once the write-ahead log holding its commit is fsynced. A
        batch holding only operations that are not durable is settled as soon as it is committed: it survives a
        crash of the process, and a power loss can undo it only until the next fsync, which covers the log it is
        in. A batch holding both is durable.
        """
        if self._connection is None:
            raise RuntimeError("the SQLite store is not open: await store.open() first")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            if loop not in self._busy:
                loop.call_soon(self._flush, loop)
        pending.append((operation, future, durable))
        self._queued.count += 1
        return future

    @property
    def queued(self) -> int:
        """Operations submitted and not yet committed (or failed)."""
        return self._queued.count

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """Commit what this loop submitted since its last batch, in one transaction."""
        if loop in self._busy:  # its batch waits for the commit or fsync under way, which then flushes it
            return
        pending = self._pending.pop(loop, None)
        if not pending:
            return
        if len(pending) > MAX_BATCH:
            self._pending[loop] = pending[MAX_BATCH:]
            pending = pending[:MAX_BATCH]
            loop.call_soon(self._flush, loop)
        connection = self._connection
        if connection is None:
            failure = RuntimeError("the SQLite store was closed before this write")
            _settle([(future, None, failure) for _, future, _ in pending], self._queued)
            return
        # In the order `_writers_held` takes them (this process's writers, then the file's turn), and the turn given
        # back while still holding the first: this process's threads share the lock file's descriptor, so an
        # unlock by one would release the turn another holds.
        with self._transacting:
            turn = self._lock is None or _try_turn(self._lock)
            if turn:
                try:
                    outcomes, seen = self._transaction(connection, pending)
                finally:
                    if self._lock is not None:
                        fcntl.flock(self._lock, fcntl.LOCK_UN)
        if not turn:
            # Another process's transaction holds the file: wait for it on a thread, not on the loop.
            self._busy.add(loop)
            waiting = loop.run_in_executor(None, self._transaction_in_turn, connection, pending)
            waiting.add_done_callback(
                lambda done: self._committed(loop, pending, *_outcomes(done, len(pending)))
            )
            return
        self._committed(loop, pending, outcomes, seen)

    def _transaction_in_turn(self, connection: sqlite3.Connection, pending: list[Pending]) -> Transacted:
        with self._writers_held():
            return self._transaction(connection, pending)

    @contextlib.contextmanager
    def _writers_held(self) -> Iterator[None]:
        """No transaction of this process (any thread) or of another process on the file runs meanwhile."""
        with self._transacting, _turn(self._lock):
            yield

    def _committed(
        self, loop: asyncio.AbstractEventLoop, pending: list[Pending], outcomes: list[Outcome], seen: Seen
    ) -> None:
        """Settle a committed batch, or hand it to the fsync thread when it holds a durable operation."""
        settled = [
            (future, result, error) for (_, future, _), (result, error) in zip(pending, outcomes, strict=True)
        ]
        syncer = self._syncer
        connection = self._connection
        if (
            syncer is None
            or connection is None
            or seen is NOTHING_SEEN
            or (connection.total_changes == self._synced_changes and seen.version == self._synced_version)
        ):
            _settle(settled, self._queued)
            self._ready(loop)
            return
        self._busy.add(loop)
        changes = connection.total_changes
        syncer.sync(loop, settled, lambda failure: self._synced(loop, changes, seen, failure))

    def _synced(
        self, loop: asyncio.AbstractEventLoop, changes: int, seen: Seen, failure: OSError | None
    ) -> None:
        """An fsync that began when the connection had made `changes` changes, after a batch that saw `seen`, has
        completed (or failed)."""
        if failure is None:
            self._synced_changes = max(self._synced_changes, changes)
            self._synced_version = max(self._synced_version, seen.version)
            self.durable_mark = max(self.durable_mark, seen.mark)
        self._ready(loop)

    def _ready(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop's last batch is settled: commit what it submitted meanwhile."""
        if loop in self._busy:
            self._busy.discard(loop)
            if self._pending.get(loop):
                self._flush(loop)

    def _transaction(self, connection: sqlite3.Connection, batch: list[Pending]) -> Transacted:
        """Run the batch in one transaction and commit it; each operation's result or error, and what a durable
        batch saw before its commit."""
        outcomes: list[Outcome]
        seen = NOTHING_SEEN
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                outcomes = [(operation(connection), None) for operation, _, _ in batch]
            except Exception as error:
                connection.execute("ROLLBACK")
                if len(batch) == 1:
                    outcomes = [(None, error)]
                else:
                    connection.execute("BEGIN IMMEDIATE")
                    outcomes = [self._isolated(connection, operation) for operation, _, _ in batch]
            if connection.in_transaction:
                if any(durable for _, _, durable in batch):
                    seen = Seen(
                        0 if self._mark is None else self._mark(connection),
                        connection.execute("PRAGMA data_version").fetchone()[0],
                    )
                connection.execute("COMMIT")
                self.commits += 1
        except Exception as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            outcomes = [(None, error)] * len(batch)
            seen = NOTHING_SEEN
        return outcomes, seen

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
