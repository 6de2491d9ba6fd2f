"""Where schedule jobs persist: an APScheduler job store next to the inbox, chosen from the store URL.

`sqlite:///x.db` gives a SQLiteJobStore on the same file (its own table, SQLAlchemyJobStore's layout, WAL, a busy
timeout so it shares the file with the inbox's writer); `redis://` gives APScheduler's RedisJobStore; an in-memory SQLite store
gives a memory job store. The stores tolerate a job vanishing under them, as happens when replicas share them.
"""

from __future__ import annotations

import logging
import pickle
from datetime import UTC, datetime
from typing import Any

from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime

from framework.errors import ConfigError
from framework.schedules.broken_jobs import BrokenJob, BrokenJobs
from framework.schedules.sqlite_jobstore import SQLiteJobStore
from framework.store.urls import redis_settings, sqlite_path

__all__ = ["JOBS_TABLE", "REDIS_JOBS_KEY", "REDIS_RUN_TIMES_KEY", "SQLITE_BUSY_TIMEOUT", "build_job_store"]

log = logging.getLogger("chatwright.schedules")

JOBS_TABLE = "chatwright_schedule_jobs"
REDIS_JOBS_KEY = "chatwright:schedule:jobs"
"""The job store's keys with the default prefix; `?prefix=` in the store URL changes the first part."""
REDIS_RUN_TIMES_KEY = "chatwright:schedule:run_times"
SQLITE_BUSY_TIMEOUT = 30.0
"""Seconds a job store write waits for the inbox's writer to release the SQLite file before failing."""


def _upsert(store: Any, base: type[Any], job: Any) -> None:
    """`update_job` that survives another replica removing the job: a job being added (its store alias not
    yet set) is inserted instead; a job being advanced after a fire stays removed (cancelled or finished)."""
    try:
        base.update_job(store, job)
    except JobLookupError:
        if job._jobstore_alias is None:
            base.add_job(store, job)
        else:
            log.info("schedule %s was removed by another replica; not re-adding it", job.id)


class _SQLiteJobStore(SQLiteJobStore):
    def update_job(self, job: Any) -> None:
        _upsert(self, SQLiteJobStore, job)


def _sqlite_job_store(path: str) -> Any:
    # NORMAL: in WAL mode a commit survives the process dying (kill -9); only an OS crash or power loss can drop
    # the last commits. FULL would fsync once per job write, on the scheduler's hot path.
    return _SQLiteJobStore(path, table=JOBS_TABLE, busy_timeout=SQLITE_BUSY_TIMEOUT, synchronous="NORMAL")


_REDIS_UPDATE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '' then redis.call('ZREM', KEYS[2], ARGV[1]) else redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) end
return 1
"""
"""Update a job only if it still exists, atomically: a replica (or a handler cancelling it) removing the job
between APScheduler's HEXISTS and its HSET would otherwise have it re-added."""

_REDIS_ADD = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) end
return 1
"""

_REDIS_REMOVE = """
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return removed
"""


def _redis_job_store(url: str) -> Any:
    try:
        from apscheduler.jobstores.redis import RedisJobStore
        from redis import Redis

    except ImportError as error:
        raise ConfigError(
            f"store.url: {url!r} needs the redis extra: pip install 'chatwright[redis]' ({error})"
        ) from error

    class _RedisJobStore(RedisJobStore):  # type: ignore[misc]
        """APScheduler's RedisJobStore, safe with replicas sharing it, keeping the jobs it cannot restore.

        APScheduler's reads the due job ids (ZRANGEBYSCORE), then their states (HMGET): a job another replica
        removed in between (it fired it) comes back as None, which it logged as "Unable to restore job ...
        removing it". Here such a job is simply gone. Writes are atomic scripts (no HEXISTS-then-write).
        """

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._broken = BrokenJobs()

        def _scripts(self) -> tuple[Any, Any, Any]:
            scripts = getattr(self, "_registered", None)
            if scripts is None or scripts[0].registered_client is not self.redis:
                scripts = tuple(
                    self.redis.register_script(text) for text in (_REDIS_UPDATE, _REDIS_ADD, _REDIS_REMOVE)
                )
                self._registered = scripts
            return scripts  # type: ignore[no-any-return]

        def _write(self, script: Any, job: Any) -> int:
            state = pickle.dumps(job.__getstate__(), self.pickle_protocol)
            when = "" if job.next_run_time is None else repr(datetime_to_utc_timestamp(job.next_run_time))
            return int(script(keys=[self.jobs_key, self.run_times_key], args=[job.id, state, when]))

        def add_job(self, job: Any) -> None:
            if not self._write(self._scripts()[1], job):
                raise ConflictingIdError(job.id)
            self._broken.forget(job.id)

        def update_job(self, job: Any) -> None:
            if not self._write(self._scripts()[0], job):
                raise JobLookupError(job.id)
            self._broken.forget(job.id)

        def remove_job(self, job_id: str) -> None:
            removed = self._scripts()[2](keys=[self.jobs_key, self.run_times_key], args=[job_id])
            self._broken.forget(job_id)
            if not removed:
                raise JobLookupError(job_id)

        def remove_all_jobs(self) -> None:
            super().remove_all_jobs()
            self._broken.keep_only(())

        def lookup_job(self, job_id: str) -> Any:
            job_state = self.redis.hget(self.jobs_key, job_id)
            return None if job_state is None else self._restore(job_id, job_state)

        def get_due_jobs(self, now: Any) -> list[Any]:
            job_ids = self.redis.zrangebyscore(self.run_times_key, 0, datetime_to_utc_timestamp(now))
            if not job_ids:
                return []
            states = self.redis.hmget(self.jobs_key, *job_ids)
            jobs = []
            for job_id, state in zip(job_ids, states, strict=True):
                if state is None:  # removed since the ZRANGEBYSCORE (by a replica that fired it): gone
                    log.debug("schedule %s was removed by another replica while due jobs were read", job_id)
                    continue
                job = self._restore(job_id, state)
                if job is not None:
                    jobs.append(job)
            return jobs

        def get_next_run_time(self) -> Any:
            broken = self._broken.ids
            for job_id, score in self.redis.zrange(self.run_times_key, 0, len(broken), withscores=True):
                if job_id.decode() not in broken:
                    return utc_timestamp_to_datetime(score)
            return None

        def get_all_jobs(self) -> list[Any]:
            states = self.redis.hgetall(self.jobs_key)
            jobs = [
                job for job_id, state in states.items() if (job := self._restore(job_id, state)) is not None
            ]
            self._broken.keep_only(job_id.decode() for job_id in states)
            never = datetime.max.replace(tzinfo=UTC)
            return sorted(jobs, key=lambda job: job.next_run_time or never)

        def broken_jobs(self) -> list[BrokenJob]:
            return self._broken.jobs()

        def _restore(self, job_id: bytes | str, state: bytes) -> Any:
            name = job_id.decode() if isinstance(job_id, bytes) else job_id

            def next_run_time() -> datetime | None:
                score = self.redis.zscore(self.run_times_key, name)
                return None if score is None else utc_timestamp_to_datetime(score)

            return self._broken.restore(name, lambda: self._reconstitute_job(state), next_run_time)

    class _ReplicaRedisJobStore(_RedisJobStore):
        def update_job(self, job: Any) -> None:
            _upsert(self, _RedisJobStore, job)

    connection_url, prefix = redis_settings(url)
    store = _ReplicaRedisJobStore(
        jobs_key=f"{prefix}:schedule:jobs", run_times_key=f"{prefix}:schedule:run_times"
    )
    store.redis = Redis.from_url(connection_url)  # connects lazily, honours db, password and rediss://
    return store


def build_job_store(store_url: str) -> Any:
    """The APScheduler job store for the Store at `store_url` (persistent unless that store is in memory)."""
    if store_url.startswith("sqlite://"):
        path = sqlite_path(store_url)
        return MemoryJobStore() if path == ":memory:" else _sqlite_job_store(path)
    if store_url.startswith(("redis://", "rediss://")):
        return _redis_job_store(store_url)
    raise ConfigError(
        f"store.url: unsupported {store_url!r}; expected sqlite:///PATH or redis://HOST:PORT/DB"
    )
