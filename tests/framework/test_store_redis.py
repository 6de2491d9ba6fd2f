"""The Redis store beyond the shared behaviours (test_store_contract.py): replicas sharing one inbox, keys, URLs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from framework.errors import ConfigError
from framework.events import new_event
from framework.store.base import Claim, Store
from framework.store.factory import open_store
from tests.conftest import require_service, wait_until
from tests.framework.store_fixtures import REDIS_URL, require_redis_package
from tests.framework.store_fixtures import (
    claimed_ids as _ids,
)
from tests.framework.store_fixtures import (
    open_and_start as _opened,
)


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one Redis inbox, each with its own connections, as two service replicas would have."""
    first, second = await _opened(redis_url), await _opened(redis_url)
    yield first, second
    await first.close()
    await second.close()


@pytest.fixture
async def raw_redis(redis_url: str) -> AsyncIterator[Any]:
    """A plain client on the test database, to look at the keys."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    yield client
    await client.aclose()


def _key(store: Store, name: str) -> str:
    from framework.store.redis import RedisStore

    assert isinstance(store, RedisStore)
    return store.key(name)


async def test_replicas_claiming_concurrently_never_get_the_same_event(replicas: tuple[Store, Store]) -> None:
    events = [new_event("a") for _ in range(300)]
    await asyncio.gather(*(replicas[i % 2].append(event) for i, event in enumerate(events)))
    taken: list[list[str]] = [[], []]

    async def drain(index: int) -> None:
        while sum(map(len, taken)) < len(events):
            taken[index] += await _ids(replicas[index], f"replica-{index}", limit=7)
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(drain(0), drain(1)), timeout=30)
    assert not set(taken[0]) & set(taken[1])
    assert sorted(taken[0] + taken[1]) == sorted(event.id for event in events)
    assert taken[0] and taken[1]


async def test_concurrent_appends_of_one_id_on_two_replicas_store_one_event(
    replicas: tuple[Store, Store],
) -> None:
    appends = (replicas[i % 2].append(new_event("a", id="same")) for i in range(50))
    results = await asyncio.gather(*appends)
    assert sum(not r.duplicate for r in results) == 1
    assert await replicas[0].pending() == 1


async def test_a_dead_replicas_claim_is_taken_over_when_its_lease_runs_out(
    replicas: tuple[Store, Store], raw_redis: Any
) -> None:
    dying, survivor = replicas
    event = new_event("a")
    await dying.append(event)
    await dying.claim("dying", 1, lease=0.3)
    assert await survivor.claim("survivor", 1, lease=30) == []
    await dying.close()  # killed: no release, no ack
    taken: list[Any] = []

    async def took_over() -> bool:
        taken.extend(await survivor.claim("survivor", 1, lease=30))
        return bool(taken)

    await wait_until(took_over, timeout=5)
    assert (taken[0].event.id, taken[0].attempt) == (event.id, 2)
    (pending,) = await raw_redis.xpending_range(_key(survivor, "ready"), "inbox", "-", "+", 10)
    assert pending["consumer"] == b"survivor"


async def test_a_released_claim_goes_to_the_other_replica_at_once(replicas: tuple[Store, Store]) -> None:
    first, second = replicas
    older, newer = new_event("a"), new_event("b")
    await first.append(older)
    await first.claim("leaving", 1, lease=60)
    await first.append(newer)
    assert await first.release("leaving") == 1
    claimed = await second.claim("staying", 1, lease=60)
    assert [(entry.event.id, entry.attempt) for entry in claimed] == [(older.id, 1)]


async def test_wait_for_work_wakes_when_another_replica_appends(replicas: tuple[Store, Store]) -> None:
    waiting, appending = replicas
    started = time.monotonic()
    waiter = asyncio.create_task(waiting.wait_for_work(20))
    await appending.append(new_event("a"))
    await asyncio.wait_for(waiter, timeout=5)
    assert time.monotonic() - started < 5
    assert len(await waiting.claim("w", 10, lease=30)) == 1


async def test_wait_for_work_returns_when_a_retry_falls_due(replicas: tuple[Store, Store]) -> None:
    store = replicas[0]
    event = new_event("a")
    await store.append(event)
    await store.claim("w", 1, lease=30)
    await store.retry_later(event.id, 0.2, "later")
    started = time.monotonic()
    await asyncio.wait_for(store.wait_for_work(20), timeout=5)
    assert time.monotonic() - started < 5
    assert await _ids(store, "w") == [event.id]


async def test_wait_for_work_times_out_and_survives_cancellation(replicas: tuple[Store, Store]) -> None:
    store, other = replicas
    started = time.monotonic()
    await store.wait_for_work(0.05)
    assert time.monotonic() - started < 5
    # cancel at every step of the wait (script, then blocking read); the connections must stay usable
    for steps in range(12):
        waiter = asyncio.create_task(store.wait_for_work(0.5))
        for _ in range(steps):
            await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiter, timeout=5)
    await other.append(new_event("a"))  # answers any blocked read the cancellations left on the server
    for n in range(50):
        await store.state_set("ns", f"k{n}", n)
        assert (await store.state_get("ns", f"k{n}"), await store.pending()) == (n, 1)
    await asyncio.wait_for(store.wait_for_work(20), timeout=5)


async def test_handled_events_leave_no_keys_behind(replicas: tuple[Store, Store], raw_redis: Any) -> None:
    store = replicas[0]
    for key in ("chat-1", "chat-1", None):
        await store.append(new_event("a"), ordering_key=key)
    while entries := await store.claim("w", 10, lease=30):
        for entry in entries:
            await store.ack(entry.event.id)
    await store.release("w")
    prefix = _key(store, "")
    keys = sorted([key.decode()[len(prefix) :] async for key in raw_redis.scan_iter(match=prefix + "*")])
    assert [key for key in keys if not key.startswith("dedupe:")] == ["ready"]
    assert await raw_redis.xlen(prefix + "ready") == 0
    assert await raw_redis.xinfo_consumers(prefix + "ready", "inbox") == []


def test_the_url_names_the_key_prefix() -> None:
    require_redis_package()
    from framework.store.redis import RedisStore
    from framework.store.urls import redis_settings

    assert redis_settings("redis://127.0.0.1:6379/0") == ("redis://127.0.0.1:6379/0", "chatwright")
    assert redis_settings("rediss://h:1/2?prefix=bot-a&socket_timeout=5") == (
        "rediss://h:1/2?socket_timeout=5",
        "bot-a",
    )
    store = open_store("redis://127.0.0.1:6379/15?prefix=x")
    assert isinstance(store, RedisStore)
    assert store.key("inbox") == "{x}:inbox"
    with pytest.raises(ConfigError, match="prefix"):
        redis_settings("redis://127.0.0.1/0?prefix=a{b}")


async def test_an_unreachable_redis_is_reported_with_what_to_do() -> None:
    require_redis_package()
    store = open_store("redis://127.0.0.1:1/0")
    with pytest.raises(ConfigError, match=r"start Redis or correct store\.url"):
        await store.open()


async def test_two_workers_on_two_replicas_handle_each_event_once_in_key_order(
    replicas: tuple[Store, Store],
) -> None:
    from framework.dispatch import DispatchOutcome, HandlerFailure
    from framework.retries import HandlerRetry
    from framework.worker import Worker

    done: dict[str, list[int]] = {}
    busy: set[str] = set()
    overlaps: list[str] = []

    class Handler:
        """Stands in for the Dispatcher: fails every 7th event once, records the order per chat."""

        handlers: tuple[()] = ()

        def handlers_for(self, event_type: str) -> tuple[()]:
            return ()

        async def dispatch(self, event: Any, **_: Any) -> DispatchOutcome:
            chat = event.data["chat"]
            if chat in busy:
                overlaps.append(chat)
            busy.add(chat)
            try:
                await asyncio.sleep(0)
                if event.data["n"] % 7 == 0 and event.attempt == 1:
                    return DispatchOutcome(event, failures=(HandlerFailure("h", RuntimeError("flaky")),))
                done.setdefault(chat, []).append(event.data["n"])
                return DispatchOutcome(event, succeeded=("h",))
            finally:
                busy.discard(chat)

    retry = HandlerRetry(attempts=3, base_delay=0.01, max_delay=0.05)
    workers = [Worker(store, Handler(), concurrency=8, retry=retry) for store in replicas]  # type: ignore[arg-type]
    runs = [asyncio.create_task(worker.run()) for worker in workers]
    try:
        for n in range(200):
            chat = f"chat-{n % 10}"
            await replicas[n % 2].append(new_event("a", {"n": n, "chat": chat}), ordering_key=chat)
        await wait_until(lambda: sum(map(len, done.values())) == 200, timeout=20)
    finally:
        for worker in workers:
            worker.stop()
        await asyncio.gather(*runs)
        for worker in workers:
            await worker.drain(5)
    assert {chat: numbers == sorted(numbers) for chat, numbers in done.items()} == {
        f"chat-{i}": True for i in range(10)
    }
    assert sorted(n for numbers in done.values() for n in numbers) == list(range(200))
    assert not overlaps
    assert all(worker.handled for worker in workers)
    assert await replicas[0].pending() == 0


async def test_schedules_on_a_prefixed_redis_url_keep_their_jobs_apart() -> None:
    import redis.asyncio as aioredis

    from framework.schedules.jobstores import build_job_store

    url = f"redis://127.0.0.1:6379/15?prefix=cwtest-{uuid.uuid4().hex[:8]}"
    try:
        probe = aioredis.Redis.from_url("redis://127.0.0.1:6379/15")
        await probe.ping()
        await probe.aclose()
    except Exception as error:
        require_service("redis", False, str(error))
    store = build_job_store(url)
    prefix = url.rsplit("prefix=", 1)[1]
    assert store.jobs_key == f"{prefix}:schedule:jobs"
    assert store.run_times_key == f"{prefix}:schedule:run_times"


@pytest.fixture
async def quick_liveness(redis_url: str) -> AsyncIterator[tuple[Any, Any]]:
    """Two replicas whose workers count as dead 1 s after their last heartbeat (instead of LIVENESS_TTL)."""
    from framework.store.redis import RedisStore

    first, second = (RedisStore(redis_url, liveness_ttl=1.0, heartbeat_every=0.2) for _ in range(2))
    await first.open()
    await second.open()
    yield first, second
    await first.close()
    await second.close()


async def test_a_dead_workers_claims_are_taken_over_once_its_heartbeat_stops(
    quick_liveness: tuple[Any, Any],
) -> None:
    dying, survivor = quick_liveness
    claimed, handed_over, queued = new_event("a"), new_event("b"), new_event("c")
    await dying.append(claimed)
    assert await _ids(dying, "dying", lease=60) == [claimed.id]
    assert (await dying.append(handed_over, claim=Claim("dying", 60))).claimed
    await dying.append(queued)
    assert await _ids(survivor, "survivor", lease=60) == [queued.id]
    # alive: for three liveness periods nothing is taken from it, though the survivor keeps claiming
    alive_until = time.monotonic() + 3 * dying.liveness_ttl
    while time.monotonic() < alive_until:
        assert await survivor.claim("survivor", 10, lease=60) == []
        await asyncio.sleep(0.05)

    await dying.close()  # its heartbeat stops; no release, no ack: what `kill -9` leaves
    killed_at = time.monotonic()
    taken: list[Any] = []

    async def took_over() -> bool:
        taken.extend(await survivor.claim("survivor", 10, lease=60))
        return len(taken) >= 2

    await wait_until(took_over, timeout=dying.liveness_ttl + 5)
    assert time.monotonic() - killed_at < dying.liveness_ttl + 1
    assert sorted((entry.event.id, entry.attempt) for entry in taken) == sorted(
        [(claimed.id, 2), (handed_over.id, 2)]
    )


async def test_a_worker_blocking_its_event_loop_still_looks_alive(
    quick_liveness: tuple[Any, Any], raw_redis: Any
) -> None:
    busy, other = quick_liveness
    event = new_event("a")
    await busy.append(event)
    assert await _ids(busy, "busy", lease=60) == [event.id]
    # a handler blocking the loop for a while: the heartbeat runs on in its own thread
    time.sleep(2 * busy.liveness_ttl)  # noqa: ASYNC251 - the blocking is the point
    assert await other.claim("other", 10, lease=60) == []
    assert await raw_redis.zscore(busy.key("workers"), "busy") is not None


async def test_a_worker_beats_before_its_first_claim_and_stops_at_release(
    quick_liveness: tuple[Any, Any], raw_redis: Any
) -> None:
    store = quick_liveness[0]
    workers = store.key("workers")
    assert await raw_redis.zscore(workers, "w") is None
    await store.claim("w", 1, lease=60)
    (seconds, micros) = await raw_redis.time()
    deadline = await raw_redis.zscore(workers, "w")
    assert 0 < deadline - (seconds * 1_000_000 + micros) <= store.liveness_ttl * 1_000_000
    await store.release("w")
    assert await raw_redis.zscore(workers, "w") is None
    await asyncio.sleep(3 * store.heartbeat_every)  # no late beat brings it back
    assert await raw_redis.zscore(workers, "w") is None


async def test_a_worker_whose_heartbeat_is_late_does_not_take_over_its_own_claims(
    redis_url: str, raw_redis: Any
) -> None:
    from framework.store.redis import RedisStore

    store = RedisStore(redis_url, liveness_ttl=1.0, heartbeat_every=3600)  # beats only when told
    await store.open()
    try:
        event = new_event("a")
        await store.append(event)
        assert await _ids(store, "late", lease=60) == [event.id]
        await raw_redis.zadd(store.key("workers"), {"late": 0})  # its heartbeat ran out (paused, cut off)
        assert await store.claim("late", 10, lease=60) == []  # it still runs what it holds
        (entry,) = await store.claim("other", 10, lease=60)
        assert (entry.event.id, entry.attempt) == (event.id, 2)
    finally:
        await store.close()


async def test_a_draining_worker_keeps_its_events_past_the_liveness_ttl(
    quick_liveness: tuple[Any, Any],
) -> None:
    from framework.dispatch import DispatchOutcome
    from framework.worker import Worker

    store, other = quick_liveness
    started, finish = asyncio.Event(), asyncio.Event()

    class Slow:
        """Stands in for the Dispatcher: a handler that runs until the test lets it finish."""

        handlers: tuple[()] = ()

        def handlers_for(self, event_type: str) -> tuple[()]:
            return ()

        async def dispatch(self, event: Any, **_: Any) -> DispatchOutcome:
            started.set()
            await finish.wait()
            return DispatchOutcome(event, succeeded=("h",))

    worker = Worker(store, Slow(), concurrency=2)  # type: ignore[arg-type]
    run = asyncio.create_task(worker.run())
    await store.append(new_event("a"))
    await asyncio.wait_for(started.wait(), timeout=5)
    worker.stop()
    await run
    drain = asyncio.create_task(worker.drain(30))
    # shutting down, its handler still running for longer than the liveness ttl: nothing is taken from it
    draining_until = time.monotonic() + 3 * store.liveness_ttl
    while time.monotonic() < draining_until:
        assert await other.claim("other", 10, lease=60) == []
        await asyncio.sleep(0.05)
    finish.set()
    assert await asyncio.wait_for(drain, timeout=5) == 0
    assert (worker.handled, await other.pending()) == (1, 0)
