"""Fresh events handed straight to a free handler slot: appended already claimed, never lost, never unfair.

`Worker.append` (what the webhook intake calls) asks the store to commit the event claimed by the worker when
a slot is free and nothing older waits in the inbox; the worker then starts it without a claim from the inbox.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

from framework import Context, Event, Plugin
from framework.events import new_event
from framework.store.base import Claim, InboxEntry, Store
from framework.store.sqlite import SQLiteStore
from framework.worker import Worker
from tests.conftest import wait_until
from tests.framework.dispatch_helpers import make_dispatcher
from tests.framework.store_fixtures import (
    claimed_ids,
    open_and_start,
    sqlite_inbox,  # noqa: F401 - the `store` fixture
)


class Counting(SQLiteStore):
    """A SQLite store that counts the claims the worker makes, and can hold them back (`claim_gate`)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.claims = 0
        self.claims_waiting = 0
        self.claim_gate = asyncio.Event()
        self.claim_gate.set()

    async def claim(self, worker: str, limit: int, lease: float) -> list[InboxEntry]:
        self.claims += 1
        self.claims_waiting += 1
        await self.claim_gate.wait()
        self.claims_waiting -= 1
        return await super().claim(worker, limit, lease)


def recording_plugin(seen: list[str], gate: asyncio.Event | None = None) -> Plugin:
    plugin = Plugin("p")

    @plugin.on("x")
    async def record(event: Event, ctx: Context) -> None:
        seen.append(event.data["n"])
        if gate is not None:
            await gate.wait()

    return plugin


async def started(store: Store, plugin: Plugin, **options: object) -> tuple[Worker, asyncio.Task[None]]:
    options.setdefault("poll_interval", 0.05)
    worker = Worker(
        store,
        make_dispatcher(store, plugin),
        rng=random.Random(1),
        **options,  # type: ignore[arg-type]
    )
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: worker._inbox_clear)  # the first claim found the inbox empty
    return worker, task


async def stopped(worker: Worker, task: asyncio.Task[None]) -> None:
    worker.stop()
    await task
    await worker.drain(1)


async def test_an_idle_worker_starts_an_appended_event_without_claiming_it(tmp_path: Path) -> None:
    store = Counting(f"sqlite:///{tmp_path}/inbox.db")
    await store.open()
    seen: list[str] = []
    # No poll: a claim made only because the poll interval ran out (20 commits can take longer on a slow disk)
    # would hide one the hand-over caused.
    worker, task = await started(store, recording_plugin(seen), poll_interval=60.0)
    claims_before = store.claims
    results = [await worker.append(new_event("x", {"n": str(n)})) for n in range(20)]
    await wait_until(lambda: worker.handled == 20)
    assert all(result.claimed for result in results)
    assert seen == [str(n) for n in range(20)]
    assert worker.handed_over == 20
    assert store.claims == claims_before  # no claim query was needed, and the acks woke none
    assert await store.pending() == 0
    await stopped(worker, task)
    await store.close()


async def test_a_duplicate_is_not_handed_over(store: SQLiteStore) -> None:
    seen: list[str] = []
    worker, task = await started(store, recording_plugin(seen))
    first = await worker.append(new_event("x", {"n": "1"}, id="delivery-1"))
    again = await worker.append(new_event("x", {"n": "1"}, id="delivery-1"))
    await wait_until(lambda: worker.handled == 1)
    assert (first.claimed, again.duplicate, again.claimed) == (True, True, False)
    assert seen == ["1"]
    await stopped(worker, task)


async def test_an_event_whose_ordering_key_is_still_in_the_inbox_waits_its_turn(tmp_path: Path) -> None:
    store = Counting(f"sqlite:///{tmp_path}/inbox.db")
    await store.open()
    seen: list[str] = []
    gate = asyncio.Event()
    worker, task = await started(store, recording_plugin(seen, gate), poll_interval=60.0)  # as above: no poll
    claims_before = store.claims
    first = await worker.append(new_event("x", {"n": "a1"}), ordering_key="chat-a")
    await wait_until(lambda: seen == ["a1"])  # running, held by the gate
    later = [await worker.append(new_event("x", {"n": f"a{n}"}), ordering_key="chat-a") for n in (2, 3)]
    other = await worker.append(new_event("x", {"n": "b1"}), ordering_key="chat-b")
    assert first.claimed and other.claimed  # nothing of their key was in the inbox
    assert not any(result.claimed for result in later)  # "a1" still is: they wait behind it
    assert store.claims == claims_before  # and they woke no claim, which could not have taken them
    await wait_until(lambda: len(seen) == 2)
    assert seen == ["a1", "b1"]  # "a2" is not started while "a1" runs, though slots are free
    gate.set()
    await wait_until(lambda: worker.handled == 4)
    assert seen == ["a1", "b1", "a2", "a3"]
    # The key has left the inbox with "a3": the next event of it is handed over again.
    assert (await worker.append(new_event("x", {"n": "a4"}), ordering_key="chat-a")).claimed
    await wait_until(lambda: worker.handled == 5)
    assert worker.handed_over == 3
    assert await store.pending() == 0
    await stopped(worker, task)
    await store.close()


async def test_an_event_due_for_a_retry_holds_back_its_ordering_key(store: SQLiteStore) -> None:
    waiting = new_event("x", {"n": "1"})
    await store.append(waiting, ordering_key="chat-1")
    (entry,) = await store.claim("w1", 10, lease=30)
    await store.retry_later(entry.event.id, 30.0, "boom")  # not ready again for 30 s, still in the inbox
    result = await store.append(
        new_event("x", {"n": "2"}), ordering_key="chat-1", claim=Claim("w1", lease=30)
    )
    assert not result.claimed
    assert (
        await store.claim("w1", 10, lease=30) == []
    )  # neither is ready: the first waits, the second is behind it


async def test_a_busy_worker_sends_events_to_the_inbox_and_later_ones_do_not_overtake_them(
    tmp_path: Path,
) -> None:
    store = Counting(f"sqlite:///{tmp_path}/inbox.db")
    await store.open()
    seen: list[str] = []
    gate = asyncio.Event()
    worker, task = await started(store, recording_plugin(seen, gate), concurrency=1, prefetch=0)
    assert (await worker.append(new_event("x", {"n": "1"}))).claimed
    await wait_until(lambda: seen == ["1"])  # the only slot is taken
    assert not (await worker.append(new_event("x", {"n": "2"}))).claimed  # so this one waits in the inbox
    store.claim_gate.clear()
    gate.set()
    # The slot is free again while the worker's claim for "2" is still under way: "3" must not take it.
    await wait_until(lambda: worker.handled == 1 and store.claims_waiting == 1)
    assert not (await worker.append(new_event("x", {"n": "3"}))).claimed
    store.claim_gate.set()
    await wait_until(lambda: worker.handled == 3)
    assert seen == ["1", "2", "3"]
    await stopped(worker, task)
    await store.close()


async def test_a_stopped_worker_takes_nothing(store: SQLiteStore) -> None:
    worker = Worker(store, make_dispatcher(store, recording_plugin([])))
    result = await worker.append(new_event("x", {"n": "1"}))
    assert not result.claimed
    assert await claimed_ids(store, "other") == [result.event_id]


async def test_a_handed_over_event_whose_worker_died_is_claimed_again_after_its_lease(store_url: str) -> None:
    first, second = await open_and_start(store_url), await open_and_start(store_url)
    event = new_event("x", {"n": "1"})
    result = await first.append(event, claim=Claim("host:1:dead", lease=0.2))
    assert result.claimed
    assert await second.claim("w2", 10, lease=30) == []  # leased to the first worker
    entries = []

    async def claimed_by_second() -> bool:
        entries.extend(await second.claim("w2", 10, lease=30))
        return bool(entries)

    await wait_until(claimed_by_second, timeout=5)
    assert [(entry.event.id, entry.event.data, entry.attempt) for entry in entries] == [
        (event.id, event.data, 2)
    ]
    await second.ack(event.id)
    assert await second.pending() == 0
    await first.close()
    await second.close()


async def test_drain_gives_back_a_handed_over_event_that_did_not_finish(any_store: Store) -> None:
    gate = asyncio.Event()
    worker, task = await started(any_store, recording_plugin([], gate))
    event = new_event("x", {"n": "1"})
    assert (await worker.append(event)).claimed
    await wait_until(lambda: worker.in_flight == 1)
    worker.stop()
    await task
    assert await worker.drain(0.05) == 1
    (entry,) = await any_store.claim("next", 10, lease=30)
    assert (entry.event.id, entry.attempt) == (event.id, 1)


async def test_every_store_appends_with_a_claim_and_keeps_the_event_from_others(any_store: Store) -> None:
    event = new_event("x", {"n": "1"})
    result = await any_store.append(event, claim=Claim("w1", lease=30))
    assert (result.duplicate, result.claimed) == (False, True)
    assert await claimed_ids(any_store, "w2") == []  # claimed for w1 at append
    await any_store.extend("w1", [event.id], lease=30)  # its lease is renewed like any claim's
    await any_store.ack(event.id)
    assert await any_store.pending() == 0
    assert (await any_store.append(event, claim=Claim("w1", lease=30))).duplicate


async def test_every_store_keeps_an_event_behind_its_ordering_key_unclaimed_at_append(
    any_store: Store,
) -> None:
    first = new_event("x", {"n": "1"})
    second = new_event("x", {"n": "2"})
    assert (await any_store.append(first, ordering_key="chat-1", claim=Claim("w1", lease=30))).claimed
    result = await any_store.append(second, ordering_key="chat-1", claim=Claim("w1", lease=30))
    assert (result.duplicate, result.claimed) == (False, False)
    assert await claimed_ids(any_store, "w2") == []  # behind the first, which w1 holds
    await any_store.ack(first.id)
    assert await claimed_ids(any_store, "w2") == [second.id]


async def test_every_store_retries_a_handed_over_event_as_its_second_attempt(any_store: Store) -> None:
    event = new_event("x", {"n": "1"})
    assert (await any_store.append(event, claim=Claim("w1", lease=30))).claimed
    await any_store.retry_later(event.id, 0.0, "boom")
    (entry,) = await any_store.claim("w2", 10, lease=30)
    assert (entry.event.id, entry.attempt, entry.last_error) == (event.id, 2, "boom")


async def test_a_worker_on_either_store_hands_fresh_events_over(any_store: Store) -> None:
    seen: list[str] = []
    worker, task = await started(any_store, recording_plugin(seen))
    results = [await worker.append(new_event("x", {"n": str(n)})) for n in range(5)]
    await wait_until(lambda: worker.handled == 5)
    assert all(result.claimed for result in results)
    assert (seen, worker.handed_over) == (["0", "1", "2", "3", "4"], 5)
    assert await any_store.pending() == 0
    await stopped(worker, task)


async def test_a_webhook_reaches_its_handler_through_the_hand_over(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    from framework.config import config_from_dict
    from framework.runtime import Runtime
    from framework.service import create_app

    raw = {
        "store": {"url": f"sqlite:///{tmp_path / 'inbox.db'}"},
        "webhooks": [{"path": "/hooks/x", "event": "x", "verify": {"scheme": "none"}, "insecure": True}],
        "plugins": {"entry_points": False},
    }
    config = config_from_dict(raw, tmp_path / "bot.toml", "bot.toml", {})
    seen: list[str] = []
    runtime = Runtime(config, plugins=[recording_plugin(seen)], providers={}, with_schedules=False)
    client = await aiohttp_client(create_app(runtime))
    await wait_until(lambda: runtime.worker._inbox_clear)
    for n in range(5):
        answer = await client.post("/hooks/x", json={"n": str(n)})
        assert answer.status == 202
    await wait_until(lambda: runtime.worker.handled == 5)
    assert sorted(seen) == ["0", "1", "2", "3", "4"]
    assert runtime.worker.handed_over == 5
    assert await runtime.store.pending() == 0
    assert "chatwright_handed_over_total 5\n" in await (await client.get("/metrics")).text()


async def test_events_emitted_by_handlers_and_schedule_fires_are_handed_over_too(tmp_path: Path) -> None:
    from framework.config import config_from_dict
    from framework.runtime import Runtime

    raw = {"store": {"url": f"sqlite:///{tmp_path / 'inbox.db'}"}, "plugins": {"entry_points": False}}
    config = config_from_dict(raw, tmp_path / "bot.toml", "bot.toml", {})
    plugin = Plugin("chain")
    seen: list[str] = []

    @plugin.on("x")
    async def emit_next(event: Event, ctx: Context) -> None:
        seen.append(event.type)
        await ctx.emit("y")

    @plugin.on("y")
    async def schedule_next(event: Event, ctx: Context) -> None:
        seen.append(event.type)
        await ctx.schedule.after(0, "z", None, id="z-now")

    @plugin.on("z")
    async def last(event: Event, ctx: Context) -> None:
        seen.append(event.type)

    runtime = Runtime(config, plugins=[plugin], providers={})
    await runtime.start()
    await wait_until(lambda: runtime.worker._inbox_clear)
    assert (await runtime.worker.append(new_event("x", {}))).claimed
    await wait_until(lambda: runtime.worker.handled == 3, timeout=10)
    assert seen == ["x", "y", "z"]
    assert runtime.worker.handed_over == 3  # none of the three was claimed from the inbox
    assert await runtime.stop() == 0
