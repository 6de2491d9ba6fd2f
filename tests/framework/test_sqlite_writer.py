"""The SQLite writer's durability levels: what is fsynced before its caller goes on, and what is not."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from framework.store.sqlite import _setup
from framework.store.sqlite_writer import SQLiteWriter

FULL, NORMAL = 2, 1


def synchronous(db: sqlite3.Connection) -> int:
    """The level the operation's transaction commits with, as SQLite reports it."""
    level: int = db.execute("PRAGMA synchronous").fetchone()[0]
    return level


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[SQLiteWriter]:
    started = SQLiteWriter(str(tmp_path / "inbox.db"), _setup)
    await started.start()
    yield started
    await started.stop()


async def test_a_durable_operation_commits_with_an_fsync(writer: SQLiteWriter) -> None:
    assert await writer.run(synchronous) == FULL


async def test_a_batch_of_operations_that_need_no_fsync_skips_it(writer: SQLiteWriter) -> None:
    levels = await asyncio.gather(*(writer.submit(synchronous, durable=False) for _ in range(3)))
    assert levels == [NORMAL] * 3
    assert await writer.run(synchronous) == FULL, "the next durable operation is fsynced again"


async def test_one_durable_operation_makes_its_whole_batch_durable(writer: SQLiteWriter) -> None:
    # Submitted in one loop iteration, so they share a batch (one transaction).
    light = writer.submit(synchronous, durable=False)
    heavy = writer.submit(synchronous)
    assert list(await asyncio.gather(light, heavy)) == [FULL, FULL]
