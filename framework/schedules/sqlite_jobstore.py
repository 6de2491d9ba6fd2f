"""An APScheduler 3 job store on the standard `sqlite3` module, table-compatible with its SQLAlchemyJobStore.

APScheduler's own SQLite option goes through SQLAlchemy, which costs the service 12 MB of RSS (a fifth of its
idle footprint) for seven one-line statements. This store runs the same statements on one `sqlite3`
connection and keeps SQLAlchemyJobStore's table layout (`id`, `next_run_time` as a UTC timestamp, `job_state`
as the pickled `Job.__getstate__()`), so files written by either can be read by the other.

Unlike APScheduler's stores, a job that cannot be restored (unpickled) is kept, logged and listed in
`broken_jobs()` instead of being deleted (see framework.schedules.broken_jobs).
"""

from __future__ import annotations

import pickle
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import BaseJobStore, ConflictingIdError, JobLookupError
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime

from framework.schedules.broken_jobs import BrokenJob, BrokenJobs
from framework.store.sqlite_writer import setup_turn

__all__ = ["SQLiteJobStore"]


class SQLiteJobStore(BaseJobStore):  # type: ignore[misc]  # APScheduler is untyped
    """Jobs in table `table` of the SQLite file at `path` (WAL; `synchronous` and busy timeout as given)."""

    def __init__(
        self,
        path: str,
        *,
        table: str = "apscheduler_jobs",
        busy_timeout: float = 30.0,
        synchronous: str = "NORMAL",
        pickle_protocol: int = pickle.HIGHEST_PROTOCOL,
    ) -> None:
        super().__init__()
        if not table.replace("_", "").isalnum():
            raise ValueError(f"table {table!r}: letters, digits and underscores only")
        self.path = path
        self.table = table
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous
        self.pickle_protocol = pickle_protocol
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # APScheduler may call a job store from its own threads
        self._broken = BrokenJobs()

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        connection = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        connection.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        with setup_turn(self.path):  # the processes of a host may switch a new file to WAL at the same moment
            connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={self.synchronous}")
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            " id VARCHAR(191) NOT NULL PRIMARY KEY, next_run_time FLOAT, job_state BLOB NOT NULL)"
        )
        connection.execute(
            f"CREATE INDEX IF NOT EXISTS ix_{self.table}_next_run_time ON {self.table} (next_run_time)"
        )
        self._connection = connection

    def shutdown(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._connection is None:
                raise RuntimeError(f"the job store on {self.path} is not started")
            yield self._connection

    def lookup_job(self, job_id: str) -> Job | None:
        with self._db() as db:
            row = db.execute(
                f"SELECT job_state, next_run_time FROM {self.table} WHERE id = ?", (job_id,)
            ).fetchone()
        return None if row is None else self._restore(job_id, row[0], row[1])

    def get_due_jobs(self, now: datetime) -> list[Job]:
        return self._jobs("WHERE next_run_time <= ?", (datetime_to_utc_timestamp(now),))

    def get_next_run_time(self) -> datetime | None:
        """The soonest next run time of the jobs that can fire (broken ones cannot: they would keep the
        scheduler waking up for nothing)."""
        broken = sorted(self._broken.ids)
        where = f" AND id NOT IN ({', '.join('?' * len(broken))})" if broken else ""
        with self._db() as db:
            row = db.execute(
                f"SELECT next_run_time FROM {self.table} WHERE next_run_time IS NOT NULL{where}"
                " ORDER BY next_run_time LIMIT 1",
                broken,
            ).fetchone()
        return None if row is None else utc_timestamp_to_datetime(row[0])

    def get_all_jobs(self) -> list[Job]:
        jobs = self._jobs("", ())
        self._fix_paused_jobs_sorting(jobs)
        return jobs

    def broken_jobs(self) -> list[BrokenJob]:
        """The stored jobs this store could not restore when it last read them (all of them: `get_all_jobs`)."""
        return self._broken.jobs()

    def add_job(self, job: Job) -> None:
        state = pickle.dumps(job.__getstate__(), self.pickle_protocol)
        try:
            with self._db() as db:
                db.execute(
                    f"INSERT INTO {self.table} (id, next_run_time, job_state) VALUES (?, ?, ?)",
                    (job.id, datetime_to_utc_timestamp(job.next_run_time), state),
                )
        except sqlite3.IntegrityError:
            raise ConflictingIdError(job.id) from None
        self._broken.forget(job.id)

    def update_job(self, job: Job) -> None:
        state = pickle.dumps(job.__getstate__(), self.pickle_protocol)
        with self._db() as db:
            cursor = db.execute(
                f"UPDATE {self.table} SET next_run_time = ?, job_state = ? WHERE id = ?",
                (datetime_to_utc_timestamp(job.next_run_time), state, job.id),
            )
        if cursor.rowcount == 0:
            raise JobLookupError(job.id)
        self._broken.forget(job.id)

    def remove_job(self, job_id: str) -> None:
        with self._db() as db:
            cursor = db.execute(f"DELETE FROM {self.table} WHERE id = ?", (job_id,))
        self._broken.forget(job_id)
        if cursor.rowcount == 0:
            raise JobLookupError(job_id)

    def remove_all_jobs(self) -> None:
        with self._db() as db:
            db.execute(f"DELETE FROM {self.table}")
        self._broken.keep_only(())

    def _reconstitute(self, state: bytes) -> Job:
        job_state = pickle.loads(state)  # our own table, as in APScheduler's job stores
        job_state["jobstore"] = self
        job: Job = Job.__new__(Job)
        job.__setstate__(job_state)
        job._scheduler = self._scheduler
        job._jobstore_alias = self._alias
        return job

    def _restore(self, job_id: str, state: bytes, next_run_time: float | None) -> Job | None:
        """The job, or None when it cannot be restored: then it is kept in the table and reported as broken."""
        return self._broken.restore(
            job_id,
            lambda: self._reconstitute(state),
            lambda: None if next_run_time is None else utc_timestamp_to_datetime(next_run_time),
        )

    def _jobs(self, where: str, parameters: tuple[Any, ...]) -> list[Job]:
        """The jobs matching `where`, soonest first; a job that cannot be restored is left out, kept in the table
        and reported (see `broken_jobs`)."""
        with self._db() as db:
            rows = db.execute(
                f"SELECT id, job_state, next_run_time FROM {self.table} {where} ORDER BY next_run_time",
                parameters,
            ).fetchall()
        jobs: list[Job] = []
        for job_id, state, next_run_time in rows:
            job = self._restore(job_id, state, next_run_time)
            if job is not None:
                jobs.append(job)
        if not where:
            self._broken.keep_only(job_id for job_id, _, _ in rows)
        return jobs

    def __repr__(self) -> str:
        return f"<{type(self).__name__} (path={self.path!r}, table={self.table!r})>"
