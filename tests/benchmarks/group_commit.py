"""The least a durable intake adds with many webhooks in flight: group commit into one SQLite file.

`GroupCommitInbox.keep(id, body)` inserts a delivery and resolves once an fsync of the write-ahead log covers
its commit. The deliveries that arrive while an fsync runs wait and share the next transaction and the next
fsync, so at 64 concurrent one fsync covers many of them; the transaction runs on the loop (`synchronous=NORMAL`:
the commit writes the log, nothing more) and only the `fdatasync` runs on a thread. That is what chatwright's
store does for an append, without anything else it does: no dedupe table, no claim, no ack, no history, no step
journal, no framework. A delivery id seen before is ignored (its first insert stands).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["GroupCommitInbox"]


class GroupCommitInbox:
    """Deliveries kept in `<directory>/grouped.db`; see the module's docstring."""

    def __init__(self, directory: Path) -> None:
        path = directory / "grouped.db"
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS inbox (id TEXT PRIMARY KEY, body BLOB NOT NULL)")
        self._log = os.open(f"{path}-wal", os.O_RDWR | os.O_CREAT, 0o644)
        folder = os.open(directory, os.O_RDONLY)  # the log's name durable before anything in it can be
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        self._fsync = ThreadPoolExecutor(1, thread_name_prefix="grouped-fsync")
        self._waiting: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._syncing = False
        self.syncs = 0

    def keep(self, delivery_id: str, body: bytes) -> asyncio.Future[None]:
        """A future that resolves once the delivery's commit is fsynced."""
        loop = asyncio.get_running_loop()
        kept = loop.create_future()
        self._waiting.append((delivery_id, body, kept))
        if len(self._waiting) == 1 and not self._syncing:
            loop.call_soon(self._commit)  # after the deliveries this loop iteration still reads
        return kept

    def _commit(self) -> None:
        if self._syncing or not self._waiting:
            return
        batch, self._waiting = self._waiting, []
        try:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO inbox (id, body) VALUES (?, ?)",
                [(id_, body) for id_, body, _ in batch],
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            for _, _, kept in batch:
                kept.set_exception(error)
            return
        self._syncing = True
        synced = asyncio.get_running_loop().run_in_executor(self._fsync, os.fdatasync, self._log)
        synced.add_done_callback(lambda done: self._settle(batch, done))

    def _settle(
        self, batch: list[tuple[str, bytes, asyncio.Future[None]]], done: asyncio.Future[None]
    ) -> None:
        self._syncing = False
        self.syncs += 1
        error = done.exception()
        for _, _, kept in batch:
            if error is None:
                kept.set_result(None)
            else:
                kept.set_exception(error)
        self._commit()

    def close(self) -> None:
        self._fsync.shutdown()
        os.close(self._log)
        self._db.close()
