"""The Store on Redis, so several service replicas share one inbox, its dedupe keys and the plugins' state.

The inbox is a Redis Stream read through one consumer group: a claim is an XREADGROUP, the group's pending list
holds what each worker (consumer) has claimed, and a claim whose lease ran out is XCLAIMed by the next claim
of any replica. An append from a worker with a free handler slot (`append(claim=...)`) stores the event already
held by that worker under a lease, off the stream, so it starts without a claim. Every worker that claims here
also keeps a heartbeat (`_Heartbeat`); once it stops (the process was killed), the next claim of any replica
takes over what that worker held without waiting for the leases to run out. What a stream alone cannot
express - per-claim leases, delayed retries, ordering keys, attempt counts - lives in sorted sets, lists and a
hash per event, and every operation is one Lua script, so it is atomic across replicas (see `redis_scripts`).
Keys live under `{prefix}:`, the prefix taken from the URL: `redis://127.0.0.1:6379/0?prefix=chatwright`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import attrs
import redis
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError
from redis.typing import KeyT, StreamIdT

from framework import jsoncodec
from framework.errors import ConfigError
from framework.events import Event, event_from_json, event_from_stored, event_to_json
from framework.store import redis_scripts as lua
from framework.store.base import (
    DEFAULT_DEDUPE_TTL,
    RELEASED,
    AppendResult,
    Claim,
    DeadLetter,
    Finished,
    HistoryEntry,
    HistoryQuery,
    InboxEntry,
    InboxStats,
    Store,
)
from framework.store.redis_durability import check_durability
from framework.store.shared_limiter import LeasedRateLimiter
from framework.store.urls import redis_settings

__all__ = [
    "HEARTBEAT_EVERY",
    "LIVENESS_TTL",
    "RedisRateLimiter",
    "RedisStore",
]

log = logging.getLogger("chatwright.store")

"""The key prefix when the URL names none."""

SOCKET_TIMEOUT = 10.0
"""Seconds a Redis reply may take before the connection counts as broken, unless the URL sets `socket_timeout`."""

IDLE_CONSUMER_SWEEP = 3600.0
"""Seconds after which a consumer with nothing pending (a worker killed while idle) is dropped from the group."""

LIVENESS_TTL = 6.0
"""Seconds a worker counts as alive after its last heartbeat; a worker silent for longer is taken for dead and
what it holds is taken over at once. It bounds the takeover after a `kill -9` (this, plus up to a poll interval
until an idle replica claims), and it is what a replica may be cut off from Redis (or paused) without losing
its events: three heartbeats, so one or two slow or lost ones do not make a live worker look dead."""

HEARTBEAT_EVERY = 2.0
"""Seconds between heartbeats (one script call for all workers of a store, from a thread of its own)."""


def _raise_if_cancelled() -> None:
    """Re-raise a cancellation that asyncio.wait_for (redis-py sends with it) swallowed before Python 3.12."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _history_head(finished: Finished | None) -> bytes:
    """The worker's part of a history entry, completed by the scripts (`keep_history`); empty for none."""
    if finished is None:
        return b""
    return b"".join(
        (
            b'{"outcome":',
            jsoncodec.dumps(finished.outcome),
            b',"duration":',
            repr(finished.duration).encode(),
            b',"handlers":',
            finished.handlers,
        )
    )


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _optional_text(value: bytes | str | None) -> str | None:
    return None if value is None else _text(value)


@attrs.frozen
class _Scripts:
    append: AsyncScript
    claim: AsyncScript
    extend: AsyncScript
    heartbeat: AsyncScript
    remove: AsyncScript
    retry_later: AsyncScript
    dead_letter: AsyncScript
    dead_letters: AsyncScript
    discard: AsyncScript
    history_trim: AsyncScript
    replay: AsyncScript
    release: AsyncScript
    peek: AsyncScript
    stats: AsyncScript
    rate: AsyncScript
    sweep_consumers: AsyncScript
    state_get: AsyncScript
    state_set: AsyncScript
    state_delete: AsyncScript
    state_keys: AsyncScript

    @classmethod
    def load(cls, client: aioredis.Redis) -> _Scripts:
        """Register every script (`append` runs `redis_scripts.APPEND`, ...); EVALSHA loads each on first use."""
        scripts = {field.name: getattr(lua, field.name.upper()) for field in attrs.fields(cls)}
        return cls(**{name: client.register_script(source) for name, source in scripts.items()})


class _Heartbeat:
    """Renews the liveness of a store's workers every `every` seconds, from a thread with its own connection.

    A thread, not a task: a handler that blocks the event loop for a while (CPU work, a synchronous call) must
    not make its worker look dead; only the process dying (or losing Redis for `ttl`) should. A loop stuck for
    good is still caught by the leases, which the loop renews.
    """

    def __init__(self, url: str, key_prefix: str, ttl: float, every: float) -> None:
        self._client = redis.Redis.from_url(url)
        # a hung call must not outlast the heartbeats it stands for
        self._client.connection_pool.connection_kwargs.update(
            socket_timeout=every, socket_connect_timeout=every
        )
        self._script = self._client.register_script(lua.HEARTBEAT)
        self._args = (key_prefix, _us(ttl))
        self._inbox = key_prefix + "inbox"
        self._every = every
        self.workers: frozenset[str] = frozenset()
        """Changed by the event loop's thread only; the heartbeat's thread reads it."""
        self._beating = threading.Lock()
        """Held while a beat is sent, for `settle`."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chatwright-heartbeat", daemon=True)
        self._thread.start()

    def add(self, worker: str) -> None:
        self.workers |= {worker}

    def discard(self, worker: str) -> None:
        self.workers -= {worker}

    def settle(self) -> None:
        """Wait out a beat being sent (blocking): after `discard` and this, no beat names that worker again."""
        with self._beating:
            pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        failing = False
        try:
            while not self._stop.wait(self._every):
                try:
                    with self._beating:
                        if workers := self.workers:
                            self._script(keys=[self._inbox], args=[*self._args, *workers])
                except Exception as error:  # whatever it is, the thread must go on: its end looks like death
                    if not failing:
                        log.warning("heartbeat failed (retrying every %.1f s): %s", self._every, error)
                    failing = True
                else:
                    if failing:
                        log.info("heartbeat renewed again")
                    failing = False
        finally:
            self._client.close()


@attrs.frozen
class _Connection:
    client: aioredis.Redis
    scripts: _Scripts


class RedisStore(Store):
    """Store on one Redis database (or cluster slot); any number of replicas may share it."""

    def __init__(
        self, url: str, *, liveness_ttl: float = LIVENESS_TTL, heartbeat_every: float = HEARTBEAT_EVERY
    ) -> None:
        self.url = url
        self.connection_url, self.prefix = redis_settings(url)
        self.key_prefix = "{" + self.prefix + "}:"
        """Every key starts with this; the braces keep all keys in one Redis Cluster hash slot."""
        self.liveness_ttl = liveness_ttl
        self.heartbeat_every = heartbeat_every
        self._connection: _Connection | None = None
        self._heartbeat: _Heartbeat | None = None

    def rate_limiter(self, name: str, rate: float, burst: int = 1) -> RedisRateLimiter:
        """A limiter shared by every replica on this Redis: key `{prefix}:rate:<name>` (see RedisRateLimiter)."""
        return RedisRateLimiter(self, self.key(f"rate:{name}"), rate, burst)

    async def _rate(self, key: str, *args: int) -> tuple[int, int, int]:
        granted, wait, now = await self._scripts.rate(keys=[key], args=list(args))
        return int(granted), int(wait), int(now)

    def key(self, name: str) -> str:
        """The full Redis key of `name` (`inbox`, `ready`, `event:<id>`, ...), for tools and tests."""
        return self.key_prefix + name

    async def open(self) -> None:
        # a burst of appends waits for a free connection instead of failing (`?max_connections=` sets the size)
        pool = aioredis.BlockingConnectionPool.from_url(self.connection_url, socket_timeout=SOCKET_TIMEOUT)
        client = aioredis.Redis.from_pool(pool)
        address = urlsplit(self.connection_url)
        where = f"{address.hostname}:{address.port or 6379}{address.path}"
        try:
            await client.ping()
            await client.xgroup_create(self.key("ready"), lua.GROUP, id="0", mkstream=True)
        except RedisError as error:
            if "BUSYGROUP" not in str(error):
                await client.aclose()
                raise ConfigError(
                    f"store.url: cannot use Redis at {where}: {error}; start Redis or correct store.url"
                ) from error
        await check_durability(client, where)
        self._connection = _Connection(client=client, scripts=_Scripts.load(client))
        await self._run(self._scripts.sweep_consumers, round(IDLE_CONSUMER_SWEEP * 1000))

    async def close(self) -> None:
        if self._heartbeat is not None:
            heartbeat, self._heartbeat = self._heartbeat, None
            await asyncio.to_thread(heartbeat.stop)
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.client.aclose()

    @property
    def _open(self) -> _Connection:
        if self._connection is None:
            raise RuntimeError("the Redis store is not open: await store.open() first")
        return self._connection

    @property
    def _scripts(self) -> _Scripts:
        return self._open.scripts

    async def _run(self, script: AsyncScript, *args: str | int | bytes) -> Any:
        return await script(keys=[self.key("inbox")], args=[self.key_prefix, *args])

    async def _keep_alive(self, worker: str) -> None:
        """Start `worker`'s heartbeat with a first beat, before it holds anything (a worker without one is
        judged by its leases alone, so it never looks dead before its first beat)."""
        await self._run(self._scripts.heartbeat, _us(self.liveness_ttl), worker)
        if self._heartbeat is None:
            self._heartbeat = _Heartbeat(
                self.connection_url, self.key_prefix, self.liveness_ttl, self.heartbeat_every
            )
        self._heartbeat.add(worker)

    def _beating(self, worker: str) -> bool:
        return self._heartbeat is not None and worker in self._heartbeat.workers

    # -- inbox -------------------------------------------------------------------------------------------------

    async def append(
        self,
        event: Event,
        *,
        ordering_key: str | None = None,
        dedupe_ttl: float = DEFAULT_DEDUPE_TTL,
        claim: Claim | None = None,
    ) -> AppendResult:
        ttl_ms = math.ceil(dedupe_ttl * 1000) if dedupe_ttl > 0 else 0
        has_key = "0" if ordering_key is None else "1"
        worker, lease = ("", 0) if claim is None else (claim.worker, _us(claim.lease))
        if worker and not self._beating(worker):
            await self._keep_alive(worker)
        stored = await self._run(
            self._scripts.append,
            event.id,
            event_to_json(event),
            has_key,
            ordering_key or "",
            ttl_ms,
            worker,
            lease,
        )
        return AppendResult(event_id=event.id, duplicate=stored == 1, claimed=stored == 2)

    async def claim(self, worker: str, limit: int, lease: float) -> list[InboxEntry]:
        if not self._beating(worker):
            await self._keep_alive(worker)
        rows = await self._run(self._scripts.claim, worker, limit, _us(lease))
        entries = []
        for _, payload, attempt, ordering_key, last_error, interrupted in rows:
            event = attrs.evolve(event_from_json(payload), attempt=int(attempt))
            entries.append(
                InboxEntry(
                    event=event,
                    attempt=int(attempt),
                    ordering_key=_optional_text(ordering_key),
                    last_error=_optional_text(last_error),
                    interrupted=bool(interrupted),
                )
            )
        return entries

    async def extend(self, worker: str, event_ids: list[str], lease: float) -> None:
        if event_ids:
            await self._run(self._scripts.extend, worker, _us(lease), *event_ids)

    async def ack(self, event_id: str, finished: Finished | None = None) -> None:
        await self._run(self._scripts.remove, event_id, _history_head(finished), self.history_size)

    async def retry_later(
        self, event_id: str, delay: float, error: str, finished: Finished | None = None
    ) -> None:
        await self._run(
            self._scripts.retry_later, event_id, _us(delay), error, _history_head(finished), self.history_size
        )

    async def dead_letter(self, event_id: str, error: str, finished: Finished | None = None) -> None:
        await self._run(
            self._scripts.dead_letter, event_id, error, _history_head(finished), self.history_size
        )

    async def release(self, worker: str) -> int:
        if self._heartbeat is not None and self._beating(worker):
            self._heartbeat.discard(worker)
            await asyncio.to_thread(self._heartbeat.settle)  # the script below drops it from the heartbeats
        released: int = await self._run(self._scripts.release, worker, RELEASED)
        return released

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        if limit == 0:
            return []
        rows = await self._run(self._scripts.dead_letters, max(limit, 0))
        letters = []
        for raw, failed_at in rows:
            record = jsoncodec.loads(raw)
            letters.append(
                DeadLetter(
                    event=event_from_json(record["event"]),
                    attempts=int(record["attempts"]),
                    error=record["error"],
                    failed_at=datetime.fromtimestamp(int(failed_at) / 1_000_000, UTC),
                )
            )
        return letters

    async def replay(self, event_id: str, *, fresh: bool = False) -> bool:
        ttl_ms = math.ceil(self.step_ttl * 1000)
        return bool(await self._run(self._scripts.replay, event_id, "1" if fresh else "0", ttl_ms))

    async def discard(self, event_id: str) -> bool:
        return bool(await self._run(self._scripts.discard, event_id))

    async def history(self, query: HistoryQuery) -> list[HistoryEntry]:
        if not self.history_size:
            return []
        oldest = _us(time.time() - self.history_age)
        await self._run(self._scripts.history_trim, oldest)
        raw = await self._open.client.lrange(self.key("history"), 0, self.history_size - 1)
        found: list[HistoryEntry] = []
        for item in raw:
            record = jsoncodec.loads(item)
            event = event_from_stored(record["event"])
            if (
                (query.event_id is not None and event.id != query.event_id)
                or (query.type is not None and event.type != query.type)
                or (query.outcome is not None and record["outcome"] != query.outcome)
            ):
                continue
            found.append(
                HistoryEntry(
                    event=event,
                    attempt=int(record["attempt"]),
                    outcome=record["outcome"],
                    handled_at=datetime.fromtimestamp(record["at"] / 1_000_000, UTC),
                    duration=float(record["duration"]),
                    handlers=record["handlers"],
                    steps={key: jsoncodec.loads(value) for key, value in record["steps"].items()},
                )
            )
            if len(found) >= query.limit:
                break
        return found

    async def pending(self) -> int:
        count: int = await self._open.client.scard(self.key("inbox"))
        return count

    async def inbox_stats(self) -> InboxStats:
        pending, age_us, dead = await self._run(self._scripts.stats)
        return InboxStats(
            pending=int(pending), oldest_age=max(0, int(age_us)) / 1_000_000, dead_letters=int(dead)
        )

    async def wait_for_work(self, timeout: float) -> None:
        """Block on the ready stream (XREAD), so an append by any replica wakes every waiting one at once.

        Returns at once if work is ready, no later than the next retry or lease falls due, and within half the
        socket timeout (SOCKET_TIMEOUT unless the URL sets one), which a longer block would run into.
        """
        if timeout <= 0:
            return
        connection = self._open
        last_id, wait_us = await self._run(self._scripts.peek)
        _raise_if_cancelled()
        if int(wait_us) == 0:
            return
        block = timeout if int(wait_us) < 0 else min(timeout, int(wait_us) / 1_000_000)
        socket_timeout = connection.client.connection_pool.connection_kwargs.get("socket_timeout")
        if socket_timeout:
            block = min(block, float(socket_timeout) / 2)
        ready: dict[KeyT, StreamIdT] = {self.key("ready"): last_id}
        try:
            await connection.client.xread(ready, count=1, block=max(1, math.ceil(block * 1000)))
        except RedisError:
            if self._connection is connection:
                raise  # else the store was closed under a waiter that outlived its cancellation
        _raise_if_cancelled()

    # -- steps -------------------------------------------------------------------------------------------------
    # One hash per event, `steps:<event id>`, field = step key. It goes when the event is acked (an acked event is
    # never handled again) and is kept while it is dead-lettered (DEAD_LETTER persists it; REPLAY sets its expiry
    # again, or deletes it for a fresh replay). Its expiry, `ttl` after the last write, only bounds records a
    # replica writes after another acked the event (a replica that lost its lease while still running it).

    async def load_steps(self, event_id: str) -> dict[str, bytes]:
        stored = await self._open.client.hgetall(self.key("steps:" + event_id))
        return {
            _text(key): value if isinstance(value, bytes) else value.encode() for key, value in stored.items()
        }

    def record_step(self, event_id: str, key: str, record: bytes, ttl: float) -> asyncio.Future[None]:
        return asyncio.ensure_future(self._record_step(self.key("steps:" + event_id), key, record, ttl))

    async def _record_step(self, steps_key: str, key: str, record: bytes, ttl: float) -> None:
        async with self._open.client.pipeline(transaction=True) as pipe:
            pipe.hset(steps_key, key, record)
            pipe.pexpire(steps_key, math.ceil(ttl * 1000))
            await pipe.execute()

    async def discard_steps(self, event_id: str) -> int:
        steps_key = self.key("steps:" + event_id)
        client = self._open.client
        async with client.pipeline(transaction=True) as pipe:
            pipe.hlen(steps_key)
            pipe.delete(steps_key)
            count, _ = await pipe.execute()
        return int(count)

    # -- plugin state ------------------------------------------------------------------------------------------

    async def state_get(self, namespace: str, key: str) -> Any:
        raw = await self._run(self._scripts.state_get, namespace, key)
        return None if raw is None else jsoncodec.loads(raw)

    async def state_set(self, namespace: str, key: str, value: Any, ttl: float | None = None) -> None:
        await self._run(
            self._scripts.state_set, namespace, key, jsoncodec.dumps(value), "" if ttl is None else _us(ttl)
        )

    async def state_delete(self, namespace: str, key: str) -> bool:
        return bool(await self._run(self._scripts.state_delete, namespace, key))

    async def state_keys(self, namespace: str, prefix: str = "") -> list[str]:
        return sorted(_text(key) for key in await self._run(self._scripts.state_keys, namespace, prefix))


class RedisRateLimiter(LeasedRateLimiter):
    """One rate limit for every replica sharing the Redis: the GCRA's arrival time lives in `{prefix}:rate:<name>`
    and each reservation is one run of the script `RATE`, on the server's clock (see LeasedRateLimiter)."""

    failures = (RedisError,)

    def __init__(self, store: RedisStore, key: str, rate: float, burst: int = 1) -> None:
        super().__init__(key, rate, burst)
        self._store = store

    async def _reserve(
        self, interval_us: int, allowance_us: int, count: int, horizon_us: int, hold_us: int
    ) -> tuple[int, int, int]:
        return await self._store._rate(self.key, interval_us, allowance_us, count, horizon_us, hold_us)
