"""The SQLite store: durable appends with dedupe, claims with leases and ordering keys, retries, dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from framework.events import new_event
from framework.store.sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(f"sqlite:///{tmp_path}/inbox.db")
    await opened.open()
    yield opened
    await opened.close()


async def test_append_then_claim_hands_out_the_event_once(store: SQLiteStore) -> None:
    event = new_event("shift.published", {"id": "s1"})
    result = await store.append(event)
    assert (result.event_id, result.duplicate) == (event.id, False)
    claimed = await store.claim("w1", 10, lease=30)
    assert [entry.event for entry in claimed] == [event]
    assert claimed[0].attempt == 1
    assert await store.claim("w2", 10, lease=30) == []


async def test_same_id_is_a_duplicate_even_after_ack(store: SQLiteStore) -> None:
    event = new_event("a", id="delivery-1")
    await store.append(event)
    (entry,) = await store.claim("w", 1, lease=30)
    await store.ack(entry.event.id)
    again = await store.append(new_event("a", id="delivery-1"))
    assert again.duplicate
    assert await store.pending() == 0


async def test_concurrent_appends_of_one_id_store_one_event(store: SQLiteStore) -> None:
    results = await asyncio.gather(*(store.append(new_event("a", id="same")) for _ in range(50)))
    assert sum(not r.duplicate for r in results) == 1
    assert await store.pending() == 1


async def test_concurrent_appends_share_commits(store: SQLiteStore) -> None:
    before = store.commits
    await asyncio.gather(*(store.append(new_event("a")) for _ in range(200)))
    assert await store.pending() == 200
    assert store.commits - before < 200


async def test_dedupe_expires_after_ttl(store: SQLiteStore) -> None:
    await store.append(new_event("a", id="short"), dedupe_ttl=0.0)
    (entry,) = await store.claim("w", 1, lease=30)
    await store.ack(entry.event.id)
    assert not (await store.append(new_event("a", id="short"))).duplicate


async def test_events_with_one_ordering_key_are_handed_out_one_at_a_time(store: SQLiteStore) -> None:
    first, second, other = new_event("a"), new_event("a"), new_event("a")
    await store.append(first, ordering_key="chat-1")
    await store.append(second, ordering_key="chat-1")
    await store.append(other, ordering_key="chat-2")
    claimed = [entry.event.id for entry in await store.claim("w", 10, lease=30)]
    assert claimed == [first.id, other.id]
    await store.retry_later(first.id, 0, "boom")
    # the first is ready again, and still blocks the second
    assert [entry.event.id for entry in await store.claim("w", 10, lease=30)] == [first.id]
    await store.ack(first.id)
    assert [entry.event.id for entry in await store.claim("w", 10, lease=30)] == [second.id]


async def test_retry_later_raises_attempt_and_waits(store: SQLiteStore) -> None:
    event = new_event("a")
    await store.append(event)
    await store.claim("w", 1, lease=30)
    await store.retry_later(event.id, 60, "HTTP 503")
    assert await store.claim("w", 1, lease=30) == []
    await store.retry_later(event.id, 0, "HTTP 503")
    (entry,) = await store.claim("w", 1, lease=30)
    assert entry.attempt == 2
    assert entry.event.attempt == 2
    assert entry.last_error == "HTTP 503"


async def test_expired_lease_is_taken_over(store: SQLiteStore) -> None:
    await store.append(new_event("a"))
    await store.claim("dead-worker", 1, lease=0.0)
    (entry,) = await store.claim("w2", 1, lease=30)
    assert entry.attempt == 2


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


async def test_dead_letter_and_replay(store: SQLiteStore) -> None:
    event = new_event("a", {"x": 1})
    await store.append(event)
    await store.claim("w", 1, lease=30)
    await store.dead_letter(event.id, "ValueError: bad")
    assert await store.pending() == 0
    (letter,) = await store.dead_letters()
    assert (letter.event.id, letter.error, letter.attempts) == (event.id, "ValueError: bad", 1)
    assert await store.replay(event.id)
    assert not await store.replay(event.id)
    (entry,) = await store.claim("w", 1, lease=30)
    assert entry.attempt == 1
    assert await store.dead_letters() == []


async def test_release_gives_events_back_without_counting_an_attempt(store: SQLiteStore) -> None:
    await store.append(new_event("a"))
    await store.claim("w", 1, lease=30)
    assert await store.release("w") == 1
    (entry,) = await store.claim("w2", 1, lease=30)
    assert entry.attempt == 1


async def test_plugin_state(store: SQLiteStore) -> None:
    await store.state_set("shiftchat", "shift:1", {"chat": "c1"})
    await store.state_set("shiftchat", "shift:2", "c2")
    await store.state_set("other", "shift:3", "c3")
    assert await store.state_get("shiftchat", "shift:1") == {"chat": "c1"}
    assert await store.state_keys("shiftchat", "shift:") == ["shift:1", "shift:2"]
    assert await store.state_delete("shiftchat", "shift:1")
    assert not await store.state_delete("shiftchat", "shift:1")
    assert await store.state_get("shiftchat", "shift:1") is None
    await store.state_set("shiftchat", "gone", 1, ttl=0.0)
    assert await store.state_get("shiftchat", "gone") is None


async def test_remember(store: SQLiteStore) -> None:
    assert await store.remember("k", 60)
    assert not await store.remember("k", 60)


async def test_events_survive_reopening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/inbox.db"
    first = SQLiteStore(url)
    await first.open()
    event = new_event("a", {"n": 1})
    await first.append(event)
    await first.close()
    second = SQLiteStore(url)
    await second.open()
    try:
        (entry,) = await second.claim("w", 1, lease=30)
        assert entry.event == event
    finally:
        await second.close()


async def test_using_a_closed_store_says_what_to_do(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path}/x.db")
    with pytest.raises(RuntimeError, match="open"):
        await store.pending()
