"""Every Store behaves the same: the inbox, dedupe, leases, ordering keys, dead letters and state, run against
the SQLite store and the Redis store alike."""

from __future__ import annotations

import asyncio
import time

import pytest

from framework.events import new_event
from framework.store.base import RELEASED, Claim, Store
from framework.store.factory import open_store
from tests.framework.store_fixtures import claimed_ids as _ids
from tests.framework.store_fixtures import open_and_start as _opened
from tests.framework.store_fixtures import store as store


async def test_append_then_claim_hands_out_the_event_once(store: Store) -> None:
    event = new_event("shift.published", {"id": "s1"})
    result = await store.append(event)
    assert (result.event_id, result.duplicate) == (event.id, False)
    claimed = await store.claim("w1", 10, lease=30)
    assert [entry.event for entry in claimed] == [event]
    assert claimed[0].attempt == 1
    assert await store.claim("w2", 10, lease=30) == []


async def test_same_id_is_a_duplicate_even_after_ack(store: Store) -> None:
    await store.append(new_event("a", id="delivery-1"))
    (entry,) = await store.claim("w", 1, lease=30)
    await store.ack(entry.event.id)
    assert (await store.append(new_event("a", id="delivery-1"))).duplicate
    assert await store.pending() == 0


async def test_concurrent_appends_of_one_id_store_one_event(store: Store) -> None:
    results = await asyncio.gather(*(store.append(new_event("a", id="same")) for _ in range(50)))
    assert sum(not r.duplicate for r in results) == 1
    assert await store.pending() == 1


async def test_dedupe_expires_after_ttl(store: Store) -> None:
    await store.append(new_event("a", id="short"), dedupe_ttl=0.0)
    (entry,) = await store.claim("w", 1, lease=30)
    await store.ack(entry.event.id)
    assert not (await store.append(new_event("a", id="short"))).duplicate


async def test_events_with_one_ordering_key_are_handed_out_one_at_a_time(store: Store) -> None:
    first, second, other = new_event("a"), new_event("a"), new_event("a")
    await store.append(first, ordering_key="chat-1")
    await store.append(second, ordering_key="chat-1")
    await store.append(other, ordering_key="chat-2")
    claimed = await store.claim("w", 10, lease=30)
    assert [entry.event.id for entry in claimed] == [first.id, other.id]
    assert [entry.ordering_key for entry in claimed] == ["chat-1", "chat-2"]
    await store.retry_later(first.id, 0, "boom")
    # the first is ready again, and still blocks the second
    assert await _ids(store, "w") == [first.id]
    await store.ack(first.id)
    assert await _ids(store, "w") == [second.id]


async def test_a_delayed_head_blocks_its_ordering_key(store: Store) -> None:
    first, second = new_event("a"), new_event("a")
    await store.append(first, ordering_key="chat-1")
    await store.append(second, ordering_key="chat-1")
    await store.claim("w", 10, lease=30)
    await store.retry_later(first.id, 60, "HTTP 503")
    assert await store.claim("w", 10, lease=30) == []
    await store.dead_letter(first.id, "gave up")
    assert await _ids(store, "w") == [second.id]


async def test_retry_later_raises_attempt_and_waits(store: Store) -> None:
    event = new_event("a")
    await store.append(event)
    await store.claim("w", 1, lease=30)
    await store.retry_later(event.id, 60, "HTTP 503")
    assert await store.claim("w", 1, lease=30) == []
    assert await store.pending() == 1
    await store.retry_later(event.id, 0, "HTTP 503")
    (entry,) = await store.claim("w", 1, lease=30)
    assert (entry.attempt, entry.event.attempt, entry.last_error) == (2, 2, "HTTP 503")


async def test_expired_lease_is_taken_over(store: Store) -> None:
    await store.append(new_event("a"))
    await store.claim("dead-worker", 1, lease=0.0)
    (entry,) = await store.claim("w2", 1, lease=30)
    assert entry.attempt == 2


async def test_extend_keeps_a_lease_only_for_its_holder(store: Store) -> None:
    await store.append(new_event("a"))
    (entry,) = await store.claim("w1", 1, lease=0.0)
    await store.extend("someone-else", [entry.event.id], lease=30)
    (taken,) = await store.claim("w2", 1, lease=0.0)
    await store.extend("w2", [taken.event.id], lease=30)
    assert await store.claim("w3", 1, lease=30) == []


async def test_dead_letter_and_replay(store: Store) -> None:
    event = new_event("a", {"x": 1})
    await store.append(event)
    await store.claim("w", 1, lease=30)
    await store.dead_letter(event.id, "ValueError: bad")
    assert await store.pending() == 0
    (letter,) = await store.dead_letters()
    assert (letter.event.id, letter.error, letter.attempts) == (event.id, "ValueError: bad", 1)
    assert abs(letter.failed_at.timestamp() - time.time()) < 60
    assert await store.replay(event.id)
    assert not await store.replay(event.id)
    (entry,) = await store.claim("w", 1, lease=30)
    assert entry.attempt == 1
    # its last error comes along: the worker knows the replayed delivery is a re-run, whose steps may be recorded
    assert entry.last_error == "ValueError: bad"
    assert await store.dead_letters() == []


async def test_step_records_are_kept_per_event_and_replaced_by_key(store: Store) -> None:
    first, second = new_event("a"), new_event("b")
    for event in (first, second):
        await store.append(event)
    await store.claim("w", 2, lease=30)
    await store.record_step(first.id, "h|op|d|1", b'{"state":"doubt"}', 60)
    await store.record_step(first.id, "h|op|d|1", b'{"state":"done"}', 60)
    await store.record_step(first.id, "h|op|d|2", b'{"state":"done","n":2}', 60)
    await store.record_step(second.id, "h|op|d|1", b"{}", 60)
    assert await store.load_steps(first.id) == {
        "h|op|d|1": b'{"state":"done"}',
        "h|op|d|2": b'{"state":"done","n":2}',
    }
    assert await store.discard_steps(first.id) == 2
    assert await store.load_steps(first.id) == {}
    assert await store.load_steps(second.id) == {"h|op|d|1": b"{}"}


async def test_step_records_leave_with_their_acked_event(store: Store) -> None:
    event = new_event("a")
    await store.append(event)
    await store.claim("w", 1, lease=30)
    await store.record_step(event.id, "h|op|d|1", b'{"state":"done"}', 60)
    await store.ack(event.id)
    assert await store.load_steps(event.id) == {}


async def test_a_replay_keeps_the_step_records_and_a_fresh_replay_discards_them(store: Store) -> None:
    kept, fresh = new_event("a"), new_event("b")
    for event in (kept, fresh):
        await store.append(event)
    await store.claim("w", 2, lease=30)
    for event in (kept, fresh):
        await store.record_step(event.id, "h|op|d|1", b'{"state":"done"}', 60)
        await store.dead_letter(event.id, "boom")
    assert await store.replay(kept.id)
    assert await store.replay(fresh.id, fresh=True)
    assert await store.load_steps(kept.id) == {"h|op|d|1": b'{"state":"done"}'}
    assert await store.load_steps(fresh.id) == {}


async def test_a_released_event_comes_back_as_a_re_run(store: Store) -> None:
    event = new_event("a")
    await store.append(event)
    await store.claim("w", 1, lease=30)
    assert await store.release("w") == 1
    (entry,) = await store.claim("w2", 1, lease=30)
    assert entry.attempt == 1  # a shutdown does not count as an attempt
    assert entry.last_error == RELEASED  # but its handler may have begun: the worker reads its steps


async def test_dead_letters_are_newest_first_and_keep_their_ordering_key(store: Store) -> None:
    older, newer, behind = new_event("a", {"text": 'grüße \u2603 / "q"'}), new_event("b"), new_event("c")
    await store.append(older, ordering_key="chat")
    await store.append(newer)
    await store.claim("w", 10, lease=30)
    await store.dead_letter(older.id, "first")
    await store.dead_letter(newer.id, "second")
    assert [letter.event for letter in await store.dead_letters()] == [newer, older]
    assert [letter.error for letter in await store.dead_letters(limit=1)] == ["second"]
    await store.append(behind, ordering_key="chat")
    assert await store.replay(older.id)
    # the replayed event queues behind the one that took its place at the head of the key
    assert await _ids(store, "w") == [behind.id]
    await store.ack(behind.id)
    (entry,) = await store.claim("w", 10, lease=30)
    assert (entry.event, entry.ordering_key) == (older, "chat")


async def test_release_gives_events_back_without_counting_an_attempt(store: Store) -> None:
    await store.append(new_event("a"))
    await store.claim("w", 1, lease=30)
    assert await store.release("w") == 1
    assert await store.release("w") == 0
    (entry,) = await store.claim("w2", 1, lease=30)
    assert entry.attempt == 1


async def test_plugin_state(store: Store) -> None:
    await store.state_set("shiftchat", "shift:1", {"chat": "c1"})
    await store.state_set("shiftchat", "shift:2", "c2", ttl=60)
    await store.state_set("other", "shift:3", "c3")
    assert await store.state_get("shiftchat", "shift:1") == {"chat": "c1"}
    assert await store.state_get("shiftchat", "shift:2") == "c2"
    assert await store.state_keys("shiftchat", "shift:") == ["shift:1", "shift:2"]
    assert await store.state_delete("shiftchat", "shift:1")
    assert not await store.state_delete("shiftchat", "shift:1")
    assert await store.state_get("shiftchat", "shift:1") is None
    await store.state_set("shiftchat", "gone", 1, ttl=0.0)
    assert await store.state_get("shiftchat", "gone") is None
    assert not await store.state_delete("shiftchat", "gone")
    await store.state_set("shiftchat", "shift:2", [1, 2])  # no ttl: kept for good
    assert await store.state_keys("shiftchat") == ["shift:2"]
    assert await store.state_get("shiftchat", "shift:2") == [1, 2]


async def test_events_survive_reopening(store_url: str) -> None:
    first = await _opened(store_url)
    event = new_event("a", {"n": 1})
    await first.append(event)
    await first.close()
    second = await _opened(store_url)
    try:
        (entry,) = await second.claim("w", 1, lease=30)
        assert entry.event == event
    finally:
        await second.close()


async def test_using_a_closed_store_says_what_to_do(store_url: str) -> None:
    with pytest.raises(RuntimeError, match="open"):
        await open_store(store_url).pending()


# -- Redis: several replicas on one inbox ------------------------------------------------------------------


async def test_a_claim_says_whether_the_previous_delivery_was_interrupted(store: Store) -> None:
    event = new_event("a")
    await store.append(event)
    (first,) = await store.claim("w1", 1, lease=0.05)
    assert not first.interrupted
    await store.retry_later(event.id, 0, "ValueError: x")
    (retried,) = await store.claim("w1", 1, lease=0.05)
    assert not retried.interrupted  # it ended normally: its records are complete
    deadline = time.monotonic() + 10
    while not (taken := await store.claim("w2", 1, lease=30)):
        assert time.monotonic() < deadline, "the expired lease was not taken over"
        await asyncio.sleep(0.01)
    assert taken[0].interrupted and taken[0].attempt == 3  # its holder's lease ran out while it held it


async def test_an_event_handed_over_at_append_whose_holder_died_is_claimed_as_interrupted(
    store: Store,
) -> None:
    event = new_event("a")
    assert (await store.append(event, claim=Claim("w1", lease=0.05))).claimed
    deadline = time.monotonic() + 10
    while not (taken := await store.claim("w2", 1, lease=30)):
        assert time.monotonic() < deadline, "the expired lease was not taken over"
        await asyncio.sleep(0.01)
    # its holder may have been inside a step it never recorded: the journal must read back, not assume a retry
    assert (taken[0].event.id, taken[0].attempt, taken[0].interrupted) == (event.id, 2, True)
