"""Where schedule jobs persist: an APScheduler job store next to the inbox, chosen from the store URL.

`sqlite:///x.db` gives a SQLiteJobStore on the same file (its own table, SQLAlchemyJobStore's layout, WAL, a busy
timeout so it shares the file with the inbox's writer); `redis://` gives APScheduler's RedisJobStore; an in-memory SQLite store
gives a memory job store. The stores tolerate a job vanishing under them, as happens when replicas share them.
"""

from __future__ import annotations

import logging
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore

from framework.errors import ConfigError
from framework.store.sqlite import sqlite_path
from framework.triggers.sqlite_jobstore import SQLiteJobStore

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


def _redis_job_store(url: str) -> Any:
    try:
        from apscheduler.jobstores.redis import RedisJobStore
        from redis import Redis

        from framework.store.redis import redis_settings
    except ImportError as error:
        raise ConfigError(
            f"store.url: {url!r} needs the redis extra: pip install 'chatwright[redis]' ({error})"
        ) from error

    class _RedisJobStore(RedisJobStore):  # type: ignore[misc]
        def update_job(self, job: Any) -> None:
            _upsert(self, RedisJobStore, job)

    connection_url, prefix = redis_settings(url)
    store = _RedisJobStore(jobs_key=f"{prefix}:schedule:jobs", run_times_key=f"{prefix}:schedule:run_times")
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
