"""Jobs a job store cannot restore (unpickle): kept in the store and reported, never deleted.

APScheduler's job stores delete a job they cannot restore. Every job is pickled with references (its function,
`framework.triggers.schedule_executor:fire_placeholder`, its trigger's classes and time zones): one import
failing after an upgrade or a bad deploy would delete every stored job. chatwright's job stores keep such a job,
log it (once per job and error, with its id), leave it out of the next run time (it cannot fire, so it must not
keep the scheduler awake) and list it here, so `ctx.schedule.list()` and `/admin/api/schedules` show it. A start
whose code can import the references again restores it; writing a job with its id (a static schedule rewritten
from the config, a handler scheduling the id again) replaces it; `ctx.schedule.cancel(id)` removes it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import attrs

__all__ = ["BrokenJob", "BrokenJobs"]

log = logging.getLogger("chatwright.schedules")


@attrs.frozen
class BrokenJob:
    """A stored job that could not be restored: its id, the error, and its stored next run time if known."""

    id: str
    error: str
    next_run_time: datetime | None = None


class BrokenJobs:
    """What one job store found it could not restore (thread-safe: APScheduler calls job stores from threads)."""

    def __init__(self) -> None:
        self._found: dict[str, BrokenJob] = {}
        self._lock = threading.Lock()

    def restore(
        self, job_id: str, restore: Callable[[], Any], next_run_time: Callable[[], datetime | None]
    ) -> Any | None:
        """`restore()`'s job, or None when it raises: then the job is recorded (and logged if new) as broken."""
        try:
            job = restore()
        except Exception as error:
            self.report(job_id, error, next_run_time())
            return None
        self.forget(job_id)
        return job

    def report(self, job_id: str, error: BaseException, next_run_time: datetime | None) -> None:
        text = f"{type(error).__name__}: {error}"
        with self._lock:
            known = self._found.get(job_id)
            self._found[job_id] = BrokenJob(job_id, text, next_run_time)
        if known is None or known.error != text:
            log.error(
                "schedule %s cannot be restored from the job store (%s); it is kept there and does not fire"
                " until a start can restore it (see docs/schedules.md)",
                job_id,
                text,
                exc_info=error,
            )

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._found.pop(job_id, None)

    def keep_only(self, job_ids: Iterable[str]) -> None:
        """After reading every stored job: the broken jobs not among `job_ids` (all broken ones seen) are gone."""
        keep = set(job_ids)
        with self._lock:
            self._found = {job_id: job for job_id, job in self._found.items() if job_id in keep}

    @property
    def ids(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._found)

    def jobs(self) -> list[BrokenJob]:
        with self._lock:
            return sorted(self._found.values(), key=lambda job: job.id)
