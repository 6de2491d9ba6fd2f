"""The group-commit durable floor of benchmark 2 keeps what it answers for, and shares its fsyncs."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from tests.benchmarks.group_commit import GroupCommitInbox


def _stored(directory: Path) -> set[str]:
    with sqlite3.connect(directory / "grouped.db") as db:
        return {row[0] for row in db.execute("SELECT id FROM inbox")}


async def test_deliveries_in_flight_share_fsyncs_and_each_is_stored_once_its_fsync_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = GroupCommitInbox(tmp_path)
    synced_rows: list[set[str]] = []
    fdatasync = os.fdatasync

    def recording_fdatasync(fd: int) -> None:
        fdatasync(fd)
        synced_rows.append(_stored(tmp_path))  # what a reader sees once this fsync has been made

    monkeypatch.setattr(os, "fdatasync", recording_fdatasync)
    try:
        ids = [f"msg_{n}" for n in range(64)]
        kept = [inbox.keep(delivery_id, b"{}") for delivery_id in ids]
        for delivery_id, future in zip(ids, kept, strict=True):
            await asyncio.wait_for(future, timeout=10)
            # resolved only after an fsync made with the delivery already committed
            assert any(delivery_id in rows for rows in synced_rows), delivery_id
        assert 1 <= inbox.syncs < len(ids) / 4, f"{inbox.syncs} fsyncs for {len(ids)} deliveries"
        await asyncio.wait_for(inbox.keep("msg_0", b"again"), timeout=10)  # a repeat is ignored
    finally:
        inbox.close()
    assert _stored(tmp_path) == set(ids)
