"""Handler slots are shared fairly between plugins: a flood for one plugin does not starve another's event.

The inbox is first in, first out. Without a fair share, an event for plugin B queued behind N events for plugin A
whose handlers wait on I/O would start only after A's backlog, N / concurrency handler durations later.
"""

from __future__ import annotations

import asyncio
import random

from framework import Context, Event, Plugin
from framework.events import new_event
from framework.store.base import Store
from framework.worker import Worker
from tests.conftest import wait_until
from tests.framework.dispatch_helpers import make_dispatcher

FLOOD = 24
CONCURRENCY = 4
PROVIDER_WAIT = 0.05
"""Seconds each of A's handlers waits, as for a slow provider: A's backlog takes FLOOD / CONCURRENCY of them."""


def plugins(done: list[str]) -> tuple[Plugin, Plugin]:
    busy, quiet = Plugin("busy"), Plugin("quiet")

    @busy.on("a.flood")
    async def slow(event: Event, ctx: Context) -> None:
        await asyncio.sleep(PROVIDER_WAIT)
        done.append("a")

    @quiet.on("b.ping")
    async def quick(event: Event, ctx: Context) -> None:
        done.append("b")

    return busy, quiet


async def run_flood(store: Store, **options: float) -> list[str]:
    """Appends FLOOD events for plugin A and then one for plugin B, runs a worker until all are handled, and
    returns the plugins' events in the order they finished."""
    done: list[str] = []
    for n in range(FLOOD):
        await store.append(new_event("a.flood", {"n": n}))
    await store.append(new_event("b.ping"))
    worker = Worker(
        store,
        make_dispatcher(store, *plugins(done)),
        concurrency=CONCURRENCY,
        poll_interval=0.05,
        rng=random.Random(1),
        **options,  # type: ignore[arg-type]
    )
    task = asyncio.create_task(worker.run())
    try:
        await wait_until(lambda: len(done) == FLOOD + 1, timeout=30)
    finally:
        worker.stop()
        await task
        await worker.drain(1)
    return done


async def test_a_plugins_event_behind_a_flood_for_another_starts_at_the_next_free_slot(
    any_store: Store,
) -> None:
    done = await run_flood(any_store)
    # B takes the first slot that frees once the worker has claimed past A's events: it finishes within the
    # first rounds of A's handlers, not after the FLOOD / CONCURRENCY = 6 rounds of A's backlog.
    assert done.index("b") <= 2 * CONCURRENCY, done
    assert done.count("a") == FLOOD


async def test_with_a_share_of_all_slots_the_inbox_order_holds(any_store: Store) -> None:
    done = await run_flood(any_store, max_share=1.0)
    # first in, first out: B started after all of A's backlog but the last round, with which it ran
    assert done.index("b") >= FLOOD - CONCURRENCY, done


async def test_a_bot_with_one_plugin_claims_no_further_ahead_than_before(any_store: Store) -> None:
    """Nobody to be fair to: the worker holds its usual `concurrency` + `prefetch`, leaving the rest of the
    inbox to other replicas."""
    held: list[int] = []
    only = Plugin("only")
    worker: Worker | None = None

    @only.on("a.flood")
    async def slow(event: Event, ctx: Context) -> None:
        assert worker is not None
        held.append(worker.in_flight)
        await asyncio.sleep(PROVIDER_WAIT)

    for n in range(FLOOD):
        await any_store.append(new_event("a.flood", {"n": n}))
    worker = Worker(any_store, make_dispatcher(any_store, only), concurrency=CONCURRENCY, poll_interval=0.05)
    task = asyncio.create_task(worker.run())
    try:
        await wait_until(lambda: len(held) == FLOOD, timeout=30)
    finally:
        worker.stop()
        await task
        await worker.drain(1)
    # running, ready to run, and at most one being acked per slot (an ack holds no slot)
    assert max(held) <= 2 * CONCURRENCY + worker.prefetch < FLOOD
