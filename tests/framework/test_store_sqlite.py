"""What only the SQLite store does: group commit, and releasing claims of dead local processes at once (the
behaviours every store shares are in test_store_contract.py)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from framework.events import event_to_json, new_event
from framework.store.sqlite import SQLiteStore
from tests.framework.store_fixtures import sqlite_inbox  # noqa: F401 - the `store` fixture


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
