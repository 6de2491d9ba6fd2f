"""A Redis configured as docs/scaling.md says (`appendonly yes`, `appendfsync always`) keeps every event the Redis
store accepted through a crash of the Redis process, and the store works on once Redis is back: the inbox, the
dedupe keys and the acks are all in the append-only file Redis replays when it starts again.

Each test runs a `redis-server` of its own in a temporary directory (not the machine's shared Redis, which runs
without persistence), kills it with SIGKILL and starts it again on the same files. A power loss, where
`appendfsync always` is what keeps the last writes (with `everysec` a process crash loses nothing either, the
kernel holds them), cannot be made here.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from framework.events import new_event
from framework.store.base import Store
from framework.store.factory import open_store
from tests.conftest import wait_until
from tests.framework.store_fixtures import private_redis

DURABLE = ("--appendonly", "yes", "--appendfsync", "always")
"""What docs/scaling.md ("Durability: configure Redis for it") tells a deployment to set."""


async def test_events_accepted_before_redis_crashed_are_all_there_after_it_restarts(tmp_path: Path) -> None:
    with private_redis(tmp_path, *DURABLE) as redis_server:
        store = open_store(f"{redis_server.url}?prefix=restart")
        await store.open()
        events = [new_event("kept", {"n": n}) for n in range(20)]
        for event in events[:10]:
            await store.append(event)  # returned: what a webhook answers 202 for
        await asyncio.gather(*(store.append(event) for event in events[10:]))
        handled = await store.claim("w", 2, lease=30)
        for entry in handled:
            await store.ack(entry.event.id)

        redis_server.crash()
        redis_server.start()

        # the same store goes on once Redis is back (its broken connections are replaced)
        await wait_until(lambda: _answers(store), timeout=10)
        assert await store.pending() == 18
        await store.close()

        reopened = open_store(f"{redis_server.url}?prefix=restart")
        await reopened.open()
        try:
            again = [await reopened.append(event) for event in events]
            assert all(result.duplicate for result in again), (
                "a dedupe key was lost: a redelivery would run twice"
            )
            waiting = await reopened.claim("w2", 100, lease=30)
            acked = {entry.event.id for entry in handled}
            assert {entry.event.id for entry in waiting} == {event.id for event in events} - acked
        finally:
            await reopened.close()


async def _answers(store: Store) -> bool:
    from redis.exceptions import RedisError

    try:
        await store.pending()
    except RedisError:  # a connection the crash broke; the next call opens a new one
        return False
    return True
