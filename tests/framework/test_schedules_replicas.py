"""Schedules shared by replicas (each with own loop, store and scheduler), Redis job stores, fire latency."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from framework.events import Event
from framework.schedules.fires import FireStats, fire_event_id
from framework.schedules.jobstores import REDIS_JOBS_KEY, REDIS_RUN_TIMES_KEY
from framework.schedules.service import ScheduleConfig, ScheduleService
from framework.store.sqlite import SQLiteStore
from tests.conftest import require_service, wait_until

REDIS_URL = "redis://127.0.0.1:6379/15"


class ThreadReplica:
    """A second service process, played by a thread with its own event loop and its own store connection."""

    def __init__(self, url: str, static: list[ScheduleConfig]) -> None:
        self.url = url
        self.static = static
        self.stats = FireStats()
        self.started = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as error:
            self.error = error
            self.started.set()

    async def _run(self) -> None:
        store = SQLiteStore(self.url)
        await store.open()
        service = ScheduleService(store, self.url, self.static)
        self.stats = service.stats
        await service.start()
        self.started.set()
        try:
            await asyncio.to_thread(self.stop.wait)
        finally:
            await service.shutdown()
            await store.close()


async def inbox(store: SQLiteStore) -> list[Event]:
    entries = await store.claim("test", 100_000, lease=60)
    await store.release("test")
    return [entry.event for entry in entries]


async def test_replicas_sharing_a_file_enqueue_every_tick_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    ticks = [ScheduleConfig(id="tick", event="tick", interval=0.1)]
    store = SQLiteStore(url)
    await store.open()
    replica_a = ScheduleService(store, url, ticks, poll_interval=0.05)
    await replica_a.start()
    replica_b = ThreadReplica(url, ticks)
    try:
        await wait_until(lambda: replica_a.stats.appended >= 1)
        replica_b.thread.start()
        await asyncio.to_thread(replica_b.started.wait, 10)
        assert replica_b.error is None

        async def enough() -> bool:
            return await store.pending() >= 10

        await wait_until(enough)
    finally:
        replica_b.stop.set()
        await asyncio.to_thread(replica_b.thread.join, 10)
        await replica_a.shutdown()
    events = await inbox(store)
    await store.close()

    planned = [event.occurred_at for event in events]
    assert len(set(planned)) == len(planned), "a tick was enqueued twice"
    assert all(event.id == fire_event_id("tick", event.occurred_at) for event in events)
    stats = (replica_a.stats, replica_b.stats)
    assert sum(s.appended for s in stats) == len(events)
    assert all(s.failed == 0 for s in stats)


async def test_a_job_left_by_a_replica_that_stopped_is_fired_by_another(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    store = SQLiteStore(url)
    await store.open()
    survivor = ScheduleService(store, url, poll_interval=0.05)
    leaver = ScheduleService(store, url)
    await survivor.start()
    await leaver.start()
    try:
        await leaver.after(0.2, "orphan", {"from": "leaver"}, id="orphan")
        await leaver.shutdown()

        async def fired() -> bool:
            return await store.pending() == 1

        await wait_until(fired)
        (event,) = await inbox(store)
        assert (event.type, event.data) == ("orphan", {"from": "leaver"})
        assert (survivor.stats.appended, leaver.stats.appended) == (1, 0)
    finally:
        await survivor.shutdown()
        await store.close()


@pytest.fixture
def redis_db() -> Iterator[object]:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as error:
        require_service("redis", False, str(error))
    client.delete(REDIS_JOBS_KEY, REDIS_RUN_TIMES_KEY)
    yield client
    client.delete(REDIS_JOBS_KEY, REDIS_RUN_TIMES_KEY)
    client.close()


async def test_redis_job_store_keeps_jobs_across_restarts(tmp_path: Path, redis_db: object) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path}/inbox.db")
    await store.open()
    first = ScheduleService(store, REDIS_URL)
    await first.start()
    await first.cron("0 8 * * mon-fri", "digest", None, id="digest", tz="Europe/Berlin")
    await first.after(0.3, "soon", {"a": 1}, id="soon")
    await first.shutdown()

    second = ScheduleService(store, REDIS_URL)
    await second.start()
    try:
        assert [job.id for job in await second.list()] == ["soon", "digest"]

        async def fired() -> bool:
            return await store.pending() == 1

        await wait_until(fired)
        (event,) = await inbox(store)
        assert (event.type, event.data, event.source) == ("soon", {"a": 1}, "schedule:soon")
        assert [job.id for job in await second.list()] == ["digest"]
    finally:
        await second.shutdown()
        await store.close()


async def test_many_jobs_due_at_once_are_all_appended_promptly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/load.db"
    store = SQLiteStore(url)
    await store.open()
    service = ScheduleService(store, url)
    await service.start()
    count = 500
    try:
        due = datetime.now(UTC) + timedelta(seconds=1.5)
        await asyncio.gather(*(service.at(due, "due", {"i": i}, id=f"job-{i}") for i in range(count)))
        assert datetime.now(UTC) < due, "scheduling took too long for this test to measure anything"

        async def all_fired() -> bool:
            return await store.pending() == count

        await wait_until(all_fired)
        latency = (datetime.now(UTC) - due).total_seconds()
    finally:
        await service.shutdown()
        await store.close()
    assert service.stats.appended == count
    assert latency < 1.0, f"{count} due jobs took {latency:.2f}s to reach the inbox"
