"""The scheduler's processing pass: every due fire is appended to the inbox, committed, before the job store
records it (moves the job to its next time or removes it), so a crash between the two repeats that fire - and
its derived event id makes the inbox keep one copy - instead of losing it.

APScheduler 3's own pass (`BaseScheduler._process_jobs`) records each fire when it hands it to an executor,
before anything ran. FireScheduler is an AsyncIOScheduler whose wakeups start this async pass instead; the rest
(job stores, their lock, listeners, pause and resume) is APScheduler's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from threading import TIMEOUT_MAX
from typing import Any

import attrs
from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING, BaseScheduler

from framework.schedules.fires import FireAppender, FireNotAppended, fire_event_id

__all__ = ["FIRE_RETRY_DELAY", "HELD_POLL", "DueJob", "FireScheduler", "PassOutcome"]

log = logging.getLogger("chatwright.schedules")

FIRE_RETRY_DELAY = 10.0
"""Seconds a job whose fire could not be appended stays due, untouched, before a pass tries it again."""

HELD_POLL = 1.0
"""While a job waits for that retry, the job store's next run time is that job's (past) one and says nothing
about the others, so passes come at least this often (seconds)."""


@attrs.frozen
class DueJob:
    """A job a pass found due: the planned run times to fire (coalesced) and where the job goes after them."""

    job: Any
    jobstore: str
    run_times: list[datetime]
    following: datetime | None
    """The job's next run time once these fires are recorded; None removes the job (it is finished)."""

    @property
    def last_fire_id(self) -> str:
        return fire_event_id(self.job.id, self.run_times[-1])


@attrs.frozen
class PassOutcome:
    appended: int
    """Fires newly appended by the pass (duplicates not counted)."""
    wait_seconds: float | None
    """Until the next pass should run; None when no job is waiting (or the scheduler is paused)."""


@attrs.define
class _Found:
    due: list[DueJob] = attrs.Factory(list)
    unreadable: set[str] = attrs.Factory(set)
    """Job stores whose due jobs could not be read; looked at again after `jobstore_retry_interval`."""


def _unchanged(current: Any, seen: Any) -> bool:
    """Whether the stored job is still the one the pass fired: not replaced, moved on or removed meanwhile (by a
    handler re-scheduling the same id as it handles the fire, or by another replica)."""
    return current is not None and (current.next_run_time, current.kwargs, repr(current.trigger)) == (
        seen.next_run_time,
        seen.kwargs,
        repr(seen.trigger),
    )


class FireScheduler(AsyncIOScheduler):  # type: ignore[misc]  # APScheduler is untyped
    """AsyncIOScheduler that appends fires before recording them, one pass at a time, folds bursts of wakeups
    into one pass, and shrugs when a job it removes is already gone (another replica removed it first).

    The job store work of a pass runs in a thread under APScheduler's job store lock (as `add_job` from handlers
    does); the lock is not held while appends are awaited, so recording checks that each job is unchanged.
    """

    def __init__(self, fires: FireAppender, jobstore: Any) -> None:
        super().__init__(
            jobstores={"default": jobstore},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            timezone=UTC,
        )
        self._fires = fires
        self._pass_lock = asyncio.Lock()
        self._runner: asyncio.Task[None] | None = None
        self._pass_wanted = False
        self._wakeup_pending = False
        self._closing = False
        self._retry_at: dict[str, datetime] = {}

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self, paused: bool = False) -> None:
        self._closing = False
        super().start(paused)
        self._fires.started()

    def shutdown(self, wait: bool = True) -> None:
        """Stop at once (synchronously, unlike AsyncIOScheduler); `stop()` is the graceful way."""
        if self._runner is not None:
            self._runner.cancel()
        BaseScheduler.shutdown(self, wait)
        self._stop_timer()
        self._eventloop = None

    async def stop(self, drain: float) -> None:
        """Start no pass any more, give the one under way `drain` seconds to append and record its fires, then
        cancel it (its jobs stay due and fire again at the next start, deduped) and shut down."""
        self._closing = True
        self._stop_timer()
        runner = self._runner
        if runner is not None:
            _, unfinished = await asyncio.wait({runner}, timeout=drain)
            if unfinished:
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner
                log.error(
                    "schedules: the pass under way did not finish within %.1fs of shutdown; its jobs stay due "
                    "and fire at the next start",
                    drain,
                )
        if self.running:
            self.shutdown(wait=False)

    def remove_job(self, job_id: str, jobstore: str | None = None) -> None:
        with contextlib.suppress(JobLookupError):
            super().remove_job(job_id, jobstore)

    # -- wakeups: what replaces AsyncIOScheduler.wakeup -> _process_jobs -------------------------------------

    def wakeup(self) -> None:
        # Any thread may call this (APScheduler does from add_job, which handlers run in worker threads).
        loop = self._eventloop
        if loop is None or self._wakeup_pending:
            return
        self._wakeup_pending = True
        loop.call_soon_threadsafe(self._want_pass)

    def _want_pass(self) -> None:
        self._wakeup_pending = False
        if self.state != STATE_RUNNING or self._closing:
            return
        self._stop_timer()
        self._pass_wanted = True
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(
                self._run_passes(), name="chatwright-schedules-pass"
            )

    async def _run_passes(self) -> None:
        """Passes back to back while wakeups keep asking (a job added mid-pass may be due sooner than what the
        pass saw), then a timer until the next due job."""
        try:
            while self._pass_wanted and self.state == STATE_RUNNING and not self._closing:
                self._pass_wanted = False
                try:
                    wait_seconds = (await self.process_due(datetime.now(UTC))).wait_seconds
                except Exception:  # e.g. the job store stayed locked past its busy timeout: try again shortly
                    wait_seconds = self.jobstore_retry_interval
                    log.exception("schedules: processing due jobs failed; trying again in %ss", wait_seconds)
                if not self._pass_wanted and not self._closing:
                    self._start_timer(wait_seconds)
        finally:
            self._runner = None

    # -- the pass ----------------------------------------------------------------------------------------------

    async def process_due(self, now: datetime, *, clock_jump: bool = False) -> PassOutcome:
        """One pass at `now`: append the fires of every due job (concurrently, so the store commits them in
        batches), then record the fired jobs in the job store, and say when the next pass is due.

        `clock_jump` is the testing clock's pass (`ScheduleService.fire_due`): it runs while paused, applies no
        misfire policy (a jump of the clock is not lateness) and does not wait for a held job's retry.
        """
        async with self._pass_lock:
            if self.state == STATE_PAUSED and not clock_jump:
                return PassOutcome(0, None)
            found = await asyncio.to_thread(self._find_due, now, clock_jump)
            counts = await asyncio.gather(
                *(self._fire(due, None if clock_jump else now) for due in found.due)
            )
            fired = [due for due, count in zip(found.due, counts, strict=True) if count is not None]
            next_wakeup = await asyncio.to_thread(self._record, fired, now, found.unreadable)
            for due in fired:
                self._dispatch_event(
                    JobSubmissionEvent(EVENT_JOB_SUBMITTED, due.job.id, due.jobstore, due.run_times)
                )
            appended = sum(count for count in counts if count is not None)
            return PassOutcome(appended, self._wait_seconds(next_wakeup))

    def _find_due(self, now: datetime, clock_jump: bool) -> _Found:
        found = _Found()
        still_due: set[str] = set()
        real_now = datetime.now(UTC)
        with self._jobstores_lock:
            for alias, jobstore in self._jobstores.items():
                try:
                    due_jobs = jobstore.get_due_jobs(now)
                except Exception as error:
                    log.warning("schedules: reading due jobs from job store %r failed: %s", alias, error)
                    found.unreadable.add(alias)
                    continue
                for job in due_jobs:
                    try:
                        self._lookup_executor(job.executor)
                    except KeyError:
                        log.error(
                            "schedule %s names executor %r, which does not exist; removing it",
                            job.id,
                            job.executor,
                        )
                        self.remove_job(job.id, alias)
                        continue
                    run_times = job._get_run_times(now)
                    run_times = run_times[-1:] if run_times and job.coalesce else run_times
                    if not run_times:
                        continue
                    still_due.add(job.id)
                    retry_at = self._retry_at.get(job.id)
                    if retry_at is not None and retry_at > real_now and not clock_jump:
                        continue
                    following = job.trigger.get_next_fire_time(run_times[-1], now)
                    found.due.append(DueJob(job, alias, run_times, following))
        self._retry_at = {job_id: at for job_id, at in self._retry_at.items() if job_id in still_due}
        return found

    async def _fire(self, due: DueJob, now: datetime | None) -> int | None:
        """Append the fires of one due job; the number newly appended, or None if the job must stay due."""
        events = self._fires.events_for(due.job, due.run_times, now)
        try:
            appended = await self._fires.append(events)
        except FireNotAppended as failure:
            self._retry_at[due.job.id] = datetime.now(UTC) + timedelta(seconds=FIRE_RETRY_DELAY)
            log.error(
                "%s; schedule %s stays due and is tried again in %gs (or at the next start)",
                failure,
                due.job.id,
                FIRE_RETRY_DELAY,
            )
            return None
        self._retry_at.pop(due.job.id, None)
        return appended

    def _record(self, fired: list[DueJob], now: datetime, unreadable: set[str]) -> datetime | None:
        """Record the fired jobs (in a thread) and return when the soonest job is due next."""
        next_wakeup: datetime | None = None
        with self._jobstores_lock:
            for alias, jobstore in self._jobstores.items():
                if alias in unreadable:
                    candidate = datetime.now(UTC) + timedelta(seconds=self.jobstore_retry_interval)
                else:
                    try:
                        self._record_in(jobstore, alias, [due for due in fired if due.jobstore == alias], now)
                        candidate = jobstore.get_next_run_time()
                    except Exception as error:
                        log.warning(
                            "schedules: recording fires in job store %r failed (they fire again, deduped): %s",
                            alias,
                            error,
                        )
                        candidate = datetime.now(UTC) + timedelta(seconds=self.jobstore_retry_interval)
                if candidate is not None and (next_wakeup is None or candidate < next_wakeup):
                    next_wakeup = candidate
        return next_wakeup

    def _record_in(self, jobstore: Any, alias: str, fired: list[DueJob], now: datetime) -> None:
        if not fired:
            return
        current = {job.id: job for job in jobstore.get_due_jobs(now)}
        for due in fired:
            if not _unchanged(current.get(due.job.id), due.job):
                log.info(
                    "[%s] schedule %s changed while its fire was appended; it stays as changed",
                    due.last_fire_id,
                    due.job.id,
                )
            elif due.following is None:
                self.remove_job(due.job.id, alias)
            else:
                due.job._modify(next_run_time=due.following)
                jobstore.update_job(due.job)

    def _wait_seconds(self, next_wakeup: datetime | None) -> float | None:
        if self.state == STATE_PAUSED:
            return None
        real_now = datetime.now(UTC)
        if self._retry_at:
            # a held job is still due, so the store's next run time is its past one: look again at its retry
            # time, or sooner for the others
            soonest = [min(self._retry_at.values()), real_now + timedelta(seconds=HELD_POLL)]
            if next_wakeup is not None and next_wakeup > real_now:
                soonest.append(next_wakeup)
            next_wakeup = min(soonest)
        if next_wakeup is None:
            return None
        return min(max((next_wakeup - real_now).total_seconds(), 0.0), TIMEOUT_MAX)
