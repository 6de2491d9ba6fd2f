"""The embedded default Store: one SQLite file in WAL mode, fsynced by group commit (framework.store.sqlite_writer).

An event is committed (and fsynced) before `append` returns, so it survives `kill -9` and power loss. Claims
record the claiming worker as `host:pid:nonce`; when a store opens, claims of dead processes on this host are
released at once, and claims whose lease ran out are taken over by any worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import attrs

from framework import jsoncodec
from framework.errors import StoreOverloaded
from framework.events import event_from_json, event_from_stored, event_to_json
from framework.store.base import (
    DEFAULT_DEDUPE_TTL,
    RELEASED,
    AppendResult,
    Claim,
    DeadLetter,
    Finished,
    HistoryEntry,
    HistoryQuery,
    InboxEntry,
    InboxStats,
    Store,
)
from framework.store.shared_limiter import LeasedRateLimiter
from framework.store.sqlite_writer import SQLiteWriter, setup_turn
from framework.store.urls import sqlite_path

__all__ = ["SQLiteRateLimiter", "SQLiteStore"]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    event BLOB NOT NULL,
    ordering_key TEXT,
    attempt INTEGER NOT NULL DEFAULT 0,
    available_at REAL NOT NULL,
    claimed_by TEXT,
    lease_until REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS inbox_available ON inbox (available_at, seq);
CREATE INDEX IF NOT EXISTS inbox_ordering ON inbox (ordering_key, seq) WHERE ordering_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS inbox_claimed ON inbox (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE TABLE IF NOT EXISTS dedupe (
    key TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
    event_id TEXT PRIMARY KEY,
    event BLOB NOT NULL,
    ordering_key TEXT,
    attempts INTEGER NOT NULL,
    error TEXT NOT NULL,
    failed_at REAL NOT NULL,
    steps TEXT
);
CREATE TABLE IF NOT EXISTS steps (
    event_seq INTEGER NOT NULL,
    key TEXT NOT NULL,
    record BLOB NOT NULL,
    PRIMARY KEY (event_seq, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    event BLOB NOT NULL,
    attempt INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    handled_at REAL NOT NULL,
    duration REAL NOT NULL,
    handlers BLOB NOT NULL,
    steps TEXT
);
CREATE TABLE IF NOT EXISTS plugin_state (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    expires_at REAL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
"""

BEHIND_ITS_KEY = -1
"""What an append's transaction returns for an event stored unclaimed behind another with its ordering key."""

MAX_QUEUED = 20_000
"""Writes the store may have queued before it refuses new events (StoreOverloaded): under overload the intake
pushes back (503 with Retry-After) instead of growing memory. About 40x what a busy service keeps queued."""

HISTORY_TRIM_SHARE = 100
"""The history is trimmed once a hundredth of `history_size` rows were added since the last trim (every ack
while that is under one row): it holds up to 1% more rows than it shows."""

PURGE_EVERY = 60.0
"""Seconds between sweeps of expired dedupe keys and state, and of claims held by dead local processes."""


def _setup(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA busy_timeout=10000")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.executescript(SCHEMA)
    columns = {row[1] for row in connection.execute("PRAGMA table_info(dead_letters)")}
    if "steps" not in columns:  # a file made before step records
        connection.execute("ALTER TABLE dead_letters ADD COLUMN steps TEXT")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@attrs.define
class _Housekeeping:
    next_sweep: float = 0.0


@attrs.define
class _AckBatch:
    """Acks of claimed rows (by seq) gathered into one writer operation until the writer starts running it."""

    seqs: list[int]
    stepped: list[int] = attrs.field(factory=list)
    """Those of `seqs` with step records to delete too."""
    finished: list[tuple[str, float, float, bytes, int]] = attrs.field(factory=list)
    """The history rows of those acks that came with a `Finished`, with the seq last."""
    done: asyncio.Future[None] | None = None
    sealed: bool = False


class SQLiteStore(Store):
    """Store on one SQLite file. Several processes on one machine may share the file."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._writer = SQLiteWriter(self.path, _setup, _inbox_mark)
        self._work = asyncio.Event()
        self._housekeeping = _Housekeeping()
        self._host = socket.gethostname()
        # Inbox rows this store claimed, by event id: their seq (acks, retries and dead letters find them by
        # their primary key) and whether they have an ordering key (only then may removing one make another
        # ready). The inbox has no index on event_id (the dedupe table already refuses a second append of an
        # id); such an index costs a random B-tree page per append, a third of the pages each commit writes.
        self._claimed: dict[str, tuple[int, bool]] = {}
        self.max_queued = MAX_QUEUED
        self._stepped: set[int] = set()
        """Seqs of claimed rows with step records (written or read here): their ack deletes those too."""
        self._acks: _AckBatch | None = None
        self._acks_lock = threading.Lock()
        """Seals a batch (when its transaction runs) against acks still joining it."""
        self._limiters: list[SQLiteRateLimiter] = []
        self._history_added = 0
        """History rows this store added since it last trimmed the history (`_trim_history`)."""

    @property
    def commits(self) -> int:
        """Transactions committed so far (appends batched together count once)."""
        return self._writer.commits

    @property
    def syncs(self) -> int:
        """Fsyncs of the write-ahead log so far (appends committed together share one)."""
        return self._writer.syncs

    def rate_limiter(self, name: str, rate: float, burst: int = 1) -> SQLiteRateLimiter | None:
        """A limiter shared by the processes of this host that use this file (None for `:memory:`): its state
        lives in `<file>.rates`, beside the store, not in it, so it never waits for an inbox commit's fsync."""
        if self.path == ":memory:":
            return None
        limiter = SQLiteRateLimiter(f"{self.path}.rates", name, rate, burst)
        self._limiters.append(limiter)
        return limiter

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        await self._writer.start()
        await self._writer.run(self._sweep)

    async def close(self) -> None:
        await self._writer.stop()
        for limiter in self._limiters:
            limiter.close()

    # -- inbox -------------------------------------------------------------------------------------------------

    async def append(
        self,
        event: Any,
        *,
        ordering_key: str | None = None,
        dedupe_ttl: float = DEFAULT_DEDUPE_TTL,
        claim: Claim | None = None,
    ) -> AppendResult:
        if self._writer.queued >= self.max_queued:
            raise StoreOverloaded(self._writer.queued)
        # Stored as text: the sqlite3 module binds str without the adapter lookup it makes for bytes.
        payload = event_to_json(event).decode()
        event_id: str = event.id

        def op(db: sqlite3.Connection) -> int | None:
            """The new row's seq when it was stored claimed, 0 when stored unclaimed and ready, BEHIND_ITS_KEY
            when stored unclaimed behind an event with its ordering key, None for a duplicate."""
            now = time.time()
            if not _remember(db, event_id, dedupe_ttl, now):
                return None
            # An event whose ordering key is still in the inbox (waiting, running or due for a retry) waits its
            # turn behind it, as the claim query would make it; checked in this transaction, so no append of
            # another process slips in between.
            behind = (
                claim is not None and ordering_key is not None and _ordering_key_in_inbox(db, ordering_key)
            )
            if claim is None or behind:
                _insert(db, event_id, payload, now, ordering_key)
                return BEHIND_ITS_KEY if behind else 0
            return _insert(db, event_id, payload, now, ordering_key, claim.worker, now + claim.lease)

        seq = await self._writer.submit(op)  # a future: no coroutine of its own on the hot path
        if seq is None:
            return AppendResult(event_id=event_id, duplicate=True)
        if seq > 0:
            self._claimed[event_id] = (seq, ordering_key is not None)
            return AppendResult(event_id=event_id, duplicate=False, claimed=True)
        if seq == 0:
            # A claim now would find it. One stored behind its key is not ready until that event leaves the inbox,
            # and that wakes the claim loop (an ack or dead letter here; a retry or another process's ack when
            # the loop next looks): waking it now would only run a claim that finds nothing.
            self._work.set()
        return AppendResult(event_id=event_id, duplicate=False)

    async def claim(self, worker: str, limit: int, lease: float) -> list[InboxEntry]:
        def op(db: sqlite3.Connection) -> list[Any]:
            now = time.time()
            if now >= self._housekeeping.next_sweep:
                self._sweep(db)
            rows = db.execute(
                """
                SELECT seq, event_id, event, ordering_key, attempt, last_error, claimed_by FROM inbox AS a
                WHERE available_at <= :now AND (claimed_by IS NULL OR lease_until < :now)
                  AND (ordering_key IS NULL OR NOT EXISTS (
                        SELECT 1 FROM inbox AS b WHERE b.ordering_key = a.ordering_key AND b.seq < a.seq))
                ORDER BY seq LIMIT :limit
                """,
                {"now": now, "limit": limit},
            ).fetchall()
            if not rows:
                return []
            db.executemany(
                "UPDATE inbox SET claimed_by = ?, lease_until = ?, attempt = attempt + 1 WHERE seq = ?",
                [(worker, now + lease, row[0]) for row in rows],
            )
            return rows

        rows = await self._writer.submit(op, durable=False)
        if rows and rows[-1][0] > self._writer.durable_mark:
            # Another process's append is seen once committed, before its fsync: a handler must not act on an
            # event a power loss could take back while its sender, never answered 202, sends it again. Seqs are
            # given in commit order, so rows up to the mark of a completed fsync are durable (this process's
            # appends always are: they are fsynced before its next batch runs, or commit in this one).
            await self._writer.run(_nothing)
        # Decoded here, after the commit, not in the writer's transaction: the next batch need not wait for it.
        entries = []
        for seq, event_id, payload, ordering_key, attempt, last_error, holder in rows:
            self._claimed[event_id] = (seq, ordering_key is not None)
            raw = jsoncodec.loads(payload)
            raw["attempt"] = attempt + 1
            entries.append(
                InboxEntry(
                    event=event_from_stored(raw),
                    attempt=attempt + 1,
                    ordering_key=ordering_key,
                    last_error=last_error,
                    interrupted=holder is not None,  # still held: its worker died or its lease ran out
                )
            )
        return entries

    def _row(self, event_id: str, *, forget: bool) -> tuple[str, Any, bool]:
        """The WHERE clause and parameter finding an event's inbox row (by seq when this store claimed it), and
        whether removing the row may make another ready: it has an ordering key, or it is not known here."""
        claimed = self._claimed.pop(event_id, None) if forget else self._claimed.get(event_id)
        if claimed is None:
            return "event_id = ?", event_id, True
        seq, ordered = claimed
        return _BY_SEQ, seq, ordered

    async def extend(self, worker: str, event_ids: list[str], lease: float) -> None:
        rows = [self._row(event_id, forget=False) for event_id in event_ids]

        def op(db: sqlite3.Connection) -> None:
            until = time.time() + lease
            for where, key, _ in rows:
                db.execute(
                    f"UPDATE inbox SET lease_until = ? WHERE {where} AND claimed_by = ?", (until, key, worker)
                )

        await self._writer.run(op, durable=False)

    async def ack(self, event_id: str, finished: Finished | None = None) -> None:
        where, key, wake = self._row(event_id, forget=True)
        if where == _BY_SEQ:
            await self._ack_claimed(key, finished)
        else:

            def op(db: sqlite3.Connection) -> None:
                if finished is not None:
                    self._keep_history(db, where, key, finished, stepped=True)
                db.execute(
                    f"DELETE FROM steps WHERE event_seq IN (SELECT seq FROM inbox WHERE {where})", (key,)
                )
                db.execute(f"DELETE FROM inbox WHERE {where}", (key,))

            await self._writer.submit(op, durable=False)
        if wake:
            self._work.set()  # a successor with the same ordering key may now be ready

    def _ack_claimed(self, seq: int, finished: Finished | None) -> asyncio.Future[None]:
        """Delete a claimed row (and its step records) with the other acks made until the writer takes them up:
        one operation, one future and one statement for all of them, instead of one each. Their history rows
        are copied from the inbox rows in that operation, before the delete."""
        stepped = seq in self._stepped
        if stepped:
            self._stepped.discard(seq)
        row = (
            None
            if finished is None
            else (finished.outcome, time.time(), finished.duration, finished.handlers, seq)
        )
        with self._acks_lock:
            batch = self._acks
            if batch is not None and not batch.sealed:
                batch.seqs.append(seq)
                if stepped:
                    batch.stepped.append(seq)
                if row is not None:
                    batch.finished.append(row)
                assert batch.done is not None
                return batch.done
        batch = self._acks = _AckBatch([seq], [seq] if stepped else [], [] if row is None else [row])

        def op(db: sqlite3.Connection) -> None:
            with self._acks_lock:
                batch.sealed = True
            if batch.finished:
                # Step records are copied only for the rows that have them; the rest skip the steps lookup.
                stepped_rows = set(batch.stepped)
                plain = [row for row in batch.finished if row[-1] not in stepped_rows]
                if plain:
                    db.executemany(_HISTORY_FROM_INBOX, plain)
                if len(plain) < len(batch.finished):
                    db.executemany(
                        _HISTORY_FROM_INBOX_STEPPED,
                        [row for row in batch.finished if row[-1] in stepped_rows],
                    )
                self._trim_history(db, len(batch.finished))
            db.executemany("DELETE FROM inbox WHERE seq = ?", [(acked,) for acked in batch.seqs])
            if batch.stepped:
                db.executemany("DELETE FROM steps WHERE event_seq = ?", [(acked,) for acked in batch.stepped])

        batch.done = self._writer.submit(op, durable=False)
        return batch.done

    async def retry_later(
        self, event_id: str, delay: float, error: str, finished: Finished | None = None
    ) -> None:
        where, key, _ = self._row(event_id, forget=True)

        def op(db: sqlite3.Connection) -> None:
            if finished is not None:
                self._keep_history(db, where, key, finished, stepped=True)
            db.execute(
                "UPDATE inbox SET available_at = ?, claimed_by = NULL, lease_until = NULL, last_error = ?"
                f" WHERE {where}",
                (time.time() + delay, error, key),
            )

        await self._writer.run(op)

    async def dead_letter(self, event_id: str, error: str, finished: Finished | None = None) -> None:
        where, key, wake = self._row(event_id, forget=True)

        if where == _BY_SEQ:
            self._stepped.discard(key)

        def op(db: sqlite3.Connection) -> None:
            row = db.execute(f"SELECT seq FROM inbox WHERE {where}", (key,)).fetchone()
            if row is None:
                return
            seq = row[0]
            if finished is not None:
                self._keep_history(db, _BY_SEQ, seq, finished, stepped=True)
            # its step records move into the dead letter's row: a replay continues from them
            records = db.execute("SELECT key, record FROM steps WHERE event_seq = ?", (seq,)).fetchall()
            db.execute(
                "INSERT OR REPLACE INTO dead_letters"
                " (event_id, event, ordering_key, attempts, error, failed_at, steps)"
                " SELECT event_id, event, ordering_key, attempt, ?, ?, ? FROM inbox WHERE seq = ?",
                (error, time.time(), _join_steps(records), seq),
            )
            db.execute("DELETE FROM steps WHERE event_seq = ?", (seq,))
            db.execute("DELETE FROM inbox WHERE seq = ?", (seq,))

        await self._writer.run(op)
        if wake:
            self._work.set()

    async def release(self, worker: str) -> int:
        self._claimed.clear()

        def op(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "UPDATE inbox SET claimed_by = NULL, lease_until = NULL, attempt = MAX(attempt - 1, 0),"
                " last_error = COALESCE(last_error, ?) WHERE claimed_by = ?",
                (RELEASED, worker),
            )
            return cursor.rowcount

        return await self._writer.run(op)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        def op(db: sqlite3.Connection) -> list[DeadLetter]:
            rows = db.execute(
                "SELECT event, attempts, error, failed_at FROM dead_letters ORDER BY failed_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
            return [
                DeadLetter(
                    event=event_from_json(payload),
                    attempts=attempts,
                    error=error,
                    failed_at=datetime.fromtimestamp(failed_at, UTC),
                )
                for payload, attempts, error, failed_at in rows
            ]

        return await self._writer.run(op)

    async def replay(self, event_id: str, *, fresh: bool = False) -> bool:
        def op(db: sqlite3.Connection) -> bool:
            row = db.execute(
                "SELECT event, ordering_key, error, steps FROM dead_letters WHERE event_id = ?", (event_id,)
            ).fetchone()
            if row is None:
                return False
            payload, ordering_key, error, steps = row
            seq = _insert(db, event_id, payload, time.time(), ordering_key)
            # a fresh replay is a first delivery again; otherwise its last error marks it as a re-run
            db.execute("UPDATE inbox SET last_error = ? WHERE seq = ?", (None if fresh else error, seq))
            if not fresh:
                db.executemany(
                    "INSERT INTO steps (event_seq, key, record) VALUES (?, ?, ?)",
                    [(seq, step, record) for step, record in _parse_steps(steps).items()],
                )
            db.execute("DELETE FROM dead_letters WHERE event_id = ?", (event_id,))
            return True

        replayed = await self._writer.run(op)
        if replayed:
            self._work.set()
        return replayed

    async def discard(self, event_id: str) -> bool:
        def op(db: sqlite3.Connection) -> bool:
            return db.execute("DELETE FROM dead_letters WHERE event_id = ?", (event_id,)).rowcount > 0

        return await self._writer.run(op)

    # -- event history -------------------------------------------------------------------------------------------
    # A finished attempt's row copies the event from its inbox row in the transaction that acks, retries or
    # dead-letters it (no decoding, no second write of the event from Python). The newest `history_size` rows
    # stay: the oldest are trimmed by rowid, a range at the front of the table, once every HISTORY_TRIM_SHARE-th
    # of that many rows added (reads leave the few beyond it out); the sweep drops rows older than `history_age`
    # (reads leave them out before that).

    def _keep_history(
        self, db: sqlite3.Connection, where: str, key: object, finished: Finished, *, stepped: bool
    ) -> None:
        statement = _HISTORY_FROM_INBOX_STEPPED if stepped else _HISTORY_FROM_INBOX
        db.execute(
            statement.replace(_BY_SEQ, where),
            (finished.outcome, time.time(), finished.duration, finished.handlers, key),
        )
        self._trim_history(db)

    def _trim_history(self, db: sqlite3.Connection, added: int = 1) -> None:
        """Trim the history to its newest `history_size` rows once this store has added a HISTORY_TRIM_SHARE-th of
        that many since it last did. A trim in every ack dirtied pages at the table's old end in each transaction:
        2 of the 6.4 log frames an ack wrote at one connection, with the history full."""
        self._history_added += added
        if self._history_added < self.history_size // HISTORY_TRIM_SHARE:
            return
        self._history_added = 0
        db.execute(
            "DELETE FROM history WHERE seq <= (SELECT MAX(seq) FROM history) - ?", (self.history_size,)
        )

    async def history(self, query: HistoryQuery) -> list[HistoryEntry]:
        oldest = time.time() - self.history_age
        clauses = ["handled_at > ?"]
        params: list[object] = [oldest]
        if query.event_id is not None:
            clauses.append("event_id = ?")
            params.append(query.event_id)
        if query.type is not None:
            clauses.append("json_extract(event, '$.type') = ?")
            params.append(query.type)
        if query.outcome is not None:
            clauses.append("outcome = ?")
            params.append(query.outcome)
        clauses.append("seq > (SELECT MAX(seq) FROM history) - ?")  # not the rows waiting for a trim
        params += [self.history_size, query.limit]

        def op(db: sqlite3.Connection) -> list[Any]:
            return db.execute(
                "SELECT event, attempt, outcome, handled_at, duration, handlers, steps FROM history"
                f" WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT ?",
                params,
            ).fetchall()

        rows = await self._read(op)
        return [
            HistoryEntry(
                event=event_from_json(payload),
                attempt=attempt,
                outcome=outcome,
                handled_at=datetime.fromtimestamp(handled_at, UTC),
                duration=duration,
                handlers=jsoncodec.loads(handlers),
                steps={step: jsoncodec.loads(record) for step, record in _parse_steps(steps).items()},
            )
            for payload, attempt, outcome, handled_at, duration, handlers, steps in rows
        ]

    async def _read(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read on a connection of its own in a thread: in WAL mode it neither waits for the writer nor
        holds it up (the admin console's reads scan up to `history_size` rows). `:memory:` has one connection."""
        if self.path == ":memory:":
            return await self._writer.run(op, durable=False)

        def read() -> T:
            db = sqlite3.connect(self.path)
            try:
                db.execute("PRAGMA query_only = 1")
                return op(db)
            finally:
                db.close()

        return await asyncio.to_thread(read)

    async def pending(self) -> int:
        def op(db: sqlite3.Connection) -> int:
            count: int = db.execute("SELECT COUNT(*) FROM inbox").fetchone()[0]
            return count

        return await self._writer.run(op)

    async def inbox_stats(self) -> InboxStats:
        def op(db: sqlite3.Connection) -> tuple[int, bytes | str | None, int]:
            pending: int = db.execute("SELECT COUNT(*) FROM inbox").fetchone()[0]
            first = db.execute("SELECT event FROM inbox ORDER BY seq LIMIT 1").fetchone()
            dead: int = db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
            return pending, None if first is None else first[0], dead

        pending, first, dead = await self._writer.run(op)
        age = 0.0
        if first is not None:
            # the first row by seq is the oldest appended; a replayed one keeps the time it was first received
            received = event_from_json(first).received_at.timestamp()
            age = max(0.0, time.time() - received)
        return InboxStats(pending=pending, oldest_age=age, dead_letters=dead)

    async def wait_for_work(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._work.wait(), timeout)
        self._work.clear()

    # -- steps -------------------------------------------------------------------------------------------------
    # Step records are keyed by the seq of their event's inbox row: a new event's records go to the end of the
    # table's B-tree like its row does to the inbox's, with no index of their own, and leave with its ack. A
    # dead letter keeps them in its row (`key<TAB>record` lines); a replay puts them back under the new row.

    async def load_steps(self, event_id: str) -> dict[str, bytes]:
        where, key, _ = self._row(event_id, forget=False)

        def op(db: sqlite3.Connection) -> list[tuple[str, bytes]]:
            return db.execute(
                f"SELECT key, record FROM steps WHERE event_seq IN (SELECT seq FROM inbox WHERE {where})",
                (key,),
            ).fetchall()

        records = dict(await self._writer.run(op, durable=False))
        if records and where == _BY_SEQ:
            self._stepped.add(key)  # written by an earlier attempt elsewhere: this ack deletes them
        return records

    def record_step(self, event_id: str, key: str, record: bytes, ttl: float) -> asyncio.Future[None]:
        where, row_key, _ = self._row(event_id, forget=False)
        if where == _BY_SEQ:
            self._stepped.add(row_key)

        def op(db: sqlite3.Connection) -> None:
            db.execute(
                f"INSERT OR REPLACE INTO steps (event_seq, key, record) SELECT seq, ?, ? FROM inbox WHERE {where}",
                (key, record, row_key),
            )

        # Not durable, like the ack it usually shares a commit with: a power loss undoes both or the ack alone.
        return self._writer.submit(op, durable=False)

    async def discard_steps(self, event_id: str) -> int:
        def op(db: sqlite3.Connection) -> int:
            found: int = db.execute(
                "DELETE FROM steps WHERE event_seq IN (SELECT seq FROM inbox WHERE event_id = ?)", (event_id,)
            ).rowcount
            row = db.execute("SELECT steps FROM dead_letters WHERE event_id = ?", (event_id,)).fetchone()
            if row is not None and row[0]:
                found += len(_parse_steps(row[0]))
                db.execute("UPDATE dead_letters SET steps = NULL WHERE event_id = ?", (event_id,))
            return found

        return await self._writer.run(op)

    # -- plugin state ------------------------------------------------------------------------------------------

    async def state_get(self, namespace: str, key: str) -> Any:
        def op(db: sqlite3.Connection) -> Any:
            row = db.execute(
                "SELECT value FROM plugin_state WHERE namespace = ? AND key = ?"
                " AND (expires_at IS NULL OR expires_at > ?)",
                (namespace, key, time.time()),
            ).fetchone()
            return None if row is None else jsoncodec.loads(row[0])

        return await self._writer.run(op)

    async def state_set(self, namespace: str, key: str, value: Any, ttl: float | None = None) -> None:
        payload = jsoncodec.dumps(value)

        def op(db: sqlite3.Connection) -> None:
            expires = None if ttl is None else time.time() + ttl
            db.execute(
                "INSERT INTO plugin_state (namespace, key, value, expires_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                (namespace, key, payload, expires),
            )

        await self._writer.run(op)

    async def state_delete(self, namespace: str, key: str) -> bool:
        def op(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "DELETE FROM plugin_state WHERE namespace = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)",
                (namespace, key, time.time()),
            )
            return cursor.rowcount > 0

        return await self._writer.run(op)

    async def state_keys(self, namespace: str, prefix: str = "") -> list[str]:
        def op(db: sqlite3.Connection) -> list[str]:
            rows = db.execute(
                "SELECT key FROM plugin_state WHERE namespace = ? AND substr(key, 1, ?) = ?"
                " AND (expires_at IS NULL OR expires_at > ?) ORDER BY key",
                (namespace, len(prefix), prefix, time.time()),
            ).fetchall()
            return [row[0] for row in rows]

        return await self._writer.run(op)

    # -- housekeeping ------------------------------------------------------------------------------------------

    def _sweep(self, db: sqlite3.Connection) -> None:
        now = time.time()
        self._housekeeping.next_sweep = now + PURGE_EVERY
        db.execute("DELETE FROM dedupe WHERE expires_at <= ?", (now,))
        db.execute("DELETE FROM history WHERE handled_at <= ?", (now - self.history_age,))
        db.execute("DELETE FROM plugin_state WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))
        # records of events another process acked without knowing of them (the table holds only events in flight)
        db.execute("DELETE FROM steps WHERE event_seq NOT IN (SELECT seq FROM inbox)")
        holders = [
            row[0] for row in db.execute("SELECT DISTINCT claimed_by FROM inbox WHERE claimed_by IS NOT NULL")
        ]
        for holder in holders:
            host, _, rest = holder.partition(":")
            pid_text = rest.partition(":")[0]
            if host == self._host and pid_text.isdigit() and not _process_alive(int(pid_text)):
                # due at once, still naming its holder: the next claim sees it was interrupted
                db.execute("UPDATE inbox SET lease_until = 0 WHERE claimed_by = ?", (holder,))


_BY_SEQ = "seq = ?"
"""The WHERE clause of `_row` for a row this store claimed: its acks are gathered (`_ack_claimed`)."""

_HISTORY_FROM_INBOX = (
    "INSERT INTO history (event_id, event, attempt, outcome, handled_at, duration, handlers)"
    " SELECT event_id, event, attempt, ?, ?, ?, ? FROM inbox WHERE seq = ?"
)
"""A history row from an inbox row (found by seq) and the worker's `Finished`: outcome, time, duration,
handlers."""
_HISTORY_FROM_INBOX_STEPPED = (
    "INSERT INTO history (event_id, event, attempt, outcome, handled_at, duration, handlers, steps)"
    " SELECT event_id, event, attempt, ?, ?, ?, ?, (SELECT group_concat(json_quote(key) || char(9)"
    " || CAST(record AS TEXT) || char(10), '') FROM steps WHERE event_seq = inbox.seq) FROM inbox WHERE seq = ?"
)
"""The same with the event's step records, in the `steps` text of a dead letter."""

_INSERT_INBOX = tuple(
    "INSERT INTO inbox (event_id, event, available_at, attempt"
    + (", ordering_key" if keyed else "")
    + (", claimed_by, lease_until" if claimed else "")
    + ") VALUES (?, ?, ?, ?"
    + (", ?" if keyed else "")
    + (", ?, ?" if claimed else "")
    + ")"
    for keyed in (False, True)
    for claimed in (False, True)
)
"""The append's INSERT by (ordering key, claimed at append): columns left out are NULL. Binding None instead
costs the sqlite3 module a failed adapter lookup, with its exception, per parameter (~0.5-1 us each)."""


def _inbox_mark(db: sqlite3.Connection) -> int:
    """The highest seq the inbox has given (AUTOINCREMENT's record of it), committed or in this transaction."""
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'inbox'").fetchone()
    return 0 if row is None else int(row[0])


def _nothing(db: sqlite3.Connection) -> None:
    """A durable operation that writes nothing: its batch waits for an fsync of the log as it stands."""


def _insert(
    db: sqlite3.Connection,
    event_id: str,
    payload: str | bytes,
    now: float,
    ordering_key: str | None,
    holder: str | None = None,
    lease_until: float | None = None,
) -> int:
    """Insert an inbox row, claimed by `holder` when given; its seq. `payload` is the event's JSON, as text (bytes
    in rows written before 2026-12, which a replay copies as they are)."""
    params: tuple[object, ...] = (event_id, payload, now, 0 if holder is None else 1)
    if ordering_key is not None:
        params += (ordering_key,)
    if holder is not None:
        params += (holder, lease_until)
    cursor = db.execute(_INSERT_INBOX[2 * (ordering_key is not None) + (holder is not None)], params)
    seq = cursor.lastrowid
    assert seq, "an INSERT into a rowid table sets lastrowid"
    return seq


def _ordering_key_in_inbox(db: sqlite3.Connection, ordering_key: str) -> bool:
    """One probe of the partial `inbox_ordering` index."""
    row = db.execute("SELECT 1 FROM inbox WHERE ordering_key = ? LIMIT 1", (ordering_key,)).fetchone()
    return row is not None


def _join_steps(records: list[tuple[str, bytes]]) -> str | None:
    """A dead letter's `steps` text: a line `"key"<TAB>record` per record (JSON has no raw tab or newline)."""
    if not records:
        return None
    return "".join(f"{jsoncodec.dumps(key).decode()}\t{record.decode()}\n" for key, record in records)


def _parse_steps(text: str | None) -> dict[str, bytes]:
    """The records of a dead letter's `steps` text: key -> record."""
    records: dict[str, bytes] = {}
    for line in (text or "").splitlines():
        key, _, record = line.partition("\t")
        records[jsoncodec.loads(key)] = record.encode()
    return records


def _remember(db: sqlite3.Connection, key: str, ttl: float, now: float) -> bool:
    cursor = db.execute(
        "INSERT INTO dedupe (key, expires_at) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE dedupe.expires_at <= ?",
        (key, now + ttl, now),
    )
    return cursor.rowcount > 0


class SQLiteRateLimiter(LeasedRateLimiter):
    """A rate limit shared by the processes of one host: the GCRA's arrival time per adapter is a row of
    `rate_limits` in a small SQLite file of its own (WAL, not synced: losing it in a crash only forgets the
    pacing of the last moment), updated in one write transaction per reservation, on this host's clock."""

    failures = (sqlite3.Error,)

    def __init__(self, path: str, name: str, rate: float, burst: int = 1) -> None:
        super().__init__(name, rate, burst)
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._db_lock = threading.Lock()

    async def _reserve(
        self, interval_us: int, allowance_us: int, count: int, horizon_us: int, hold_us: int
    ) -> tuple[int, int, int]:
        return await asyncio.to_thread(
            self._reserve_now, interval_us, allowance_us, count, horizon_us, hold_us
        )

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA busy_timeout=10000")
            with setup_turn(self.path):
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=OFF")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS rate_limits (name TEXT PRIMARY KEY, tat INTEGER NOT NULL)"
                )
            self._db = db
        return self._db

    def _reserve_now(
        self, interval_us: int, allowance_us: int, count: int, horizon_us: int, hold_us: int
    ) -> tuple[int, int, int]:
        """The script `redis_scripts.RATE`, as one SQLite transaction."""
        with self._db_lock:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                now = time.time_ns() // 1000
                row = db.execute("SELECT tat FROM rate_limits WHERE name = ?", (self.key,)).fetchone()
                tat = max(now, row[0] if row else 0)
                answer: tuple[int, int, int]
                if hold_us > 0:
                    new_tat, answer = max(tat, now + hold_us + allowance_us), (0, 0, now)
                else:
                    wait = tat - allowance_us - now
                    if wait > horizon_us:
                        db.execute("COMMIT")
                        return 0, wait - horizon_us, now
                    new_tat, answer = tat + count * interval_us, (count, wait, now)
                db.execute(
                    "INSERT INTO rate_limits (name, tat) VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET tat = excluded.tat",
                    (self.key, new_tat),
                )
                db.execute("COMMIT")
                return answer
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._db_lock:
            if self._db is not None:
                self._db.close()
                self._db = None
