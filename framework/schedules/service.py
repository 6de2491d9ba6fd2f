"""Schedules: APScheduler fires static (config, `@plugin.cron`) and dynamic (`ctx.schedule`) jobs as events.

Every job lives in a persistent job store next to the inbox (see framework.schedules.jobstores), so a restart
loses none and replicas share them; every fire becomes an Event appended through the Store (see
framework.schedules.fires) before the job store records it (see framework.schedules.scheduler).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from apscheduler.triggers.date import DateTrigger

from framework import jsoncodec
from framework.context import ScheduledJob
from framework.errors import ConfigError
from framework.events import utcnow
from framework.plugins import CronSpec
from framework.schedules.broken_jobs import BrokenJob
from framework.schedules.config import (
    InvalidSchedule,
    ScheduleConfig,
    StaticSchedule,
    crontab_trigger,
    load_timezone,
    parse_instant,
    schedule_problems,
    static_schedules,
)
from framework.schedules.fires import EXECUTOR_ALIAS, FIRE_FUNC, FireAppender, FireStats, fire_event
from framework.schedules.jobstores import build_job_store
from framework.schedules.scheduler import FireScheduler
from framework.store.base import Append, Store

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "FireStats",
    "ScheduleConfig",
    "ScheduleRow",
    "ScheduleService",
    "schedule_problems",
]

log = logging.getLogger("chatwright.schedules")

DEFAULT_POLL_INTERVAL = 10.0
"""Seconds between looks at the shared job store for jobs other replicas added (or left due when they died).
"""

SHUTDOWN_DRAIN = 10.0
"""Seconds shutdown waits for the pass under way to append and record its fires."""

_NEVER = datetime.max.replace(tzinfo=UTC)

NextFires = list[tuple[str, datetime | None]]
BrokenJobs = list[BrokenJob]
JobList = list[Any]
"""(schedule id, next planned fire in UTC, None when it will not fire), soonest first."""


@attrs.frozen
class ScheduleRow:
    """A stored job as the admin console shows it: `paused` jobs keep their trigger but have no next fire
    (APScheduler's pause, kept in the shared job store, so it holds on every replica and across restarts)."""

    id: str
    event_type: str
    trigger: str
    static: bool
    next_fire: datetime | None
    paused: bool
    broken: str | None = None


ScheduleRows = list[ScheduleRow]


def _job_kwargs(event_type: str, data: dict[str, Any] | None, trigger: str, **extra: Any) -> dict[str, Any]:
    if not isinstance(event_type, str) or not event_type.strip():
        raise ValueError(f"schedule event type {event_type!r} must be a non-empty string")
    payload = dict(data or {})
    try:
        jsoncodec.dumps(payload)
    except (TypeError, ValueError) as error:
        raise ValueError(f"schedule data for {event_type!r} must be JSON-serialisable: {error}") from None
    return {"type": event_type, "data": payload, "trigger": trigger, **extra}


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


class ScheduleService:
    """Runs the schedules: `start()` them, hand the service to handlers as their `ScheduleApi`, `shutdown()`.

    `static` are the `[[schedules]]` of the config and the `@plugin.cron` specs; they are (re)written to the
    job store at start. Dynamic jobs come from `at` / `after` / `cron`; giving an existing id replaces it.
    `timezone` is the zone of `at` times given without an offset. Fires are stored with `append`, the store's
    unless given (the runtime passes its worker's, which starts a fire at once when a handler slot is free).
    """

    def __init__(
        self,
        store: Store,
        store_url: str,
        static: Sequence[ScheduleConfig | CronSpec] = (),
        *,
        timezone: str = "UTC",
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        append: Append | None = None,
    ) -> None:
        try:
            self._zone = load_timezone(timezone)
        except InvalidSchedule as error:
            raise ConfigError(f"schedules: {error}") from None
        self._statics = static_schedules(static)
        self._static_ids = frozenset(schedule.id for schedule in self._statics)
        self._poll_interval = poll_interval
        self._store_url = store_url
        self.stats = FireStats()
        fires = self._fires = FireAppender(append or store.append, self.stats)
        self._jobstore = build_job_store(store_url)
        self._scheduler = FireScheduler(fires, self._jobstore)
        self._poller: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    async def start(self, *, paused: bool = False) -> None:
        """Open the job store, write the static schedules to it, and start firing (missed fires first).

        `paused`: keep jobs in the store without firing them (`chatwright emit` schedules jobs for the service).
        """
        if self.running:
            return
        self._scheduler.start(paused=True)
        try:
            await asyncio.to_thread(self._sync_statics)
        except BaseException:
            self._scheduler.shutdown(wait=False)
            raise
        if paused:
            return
        self._scheduler.resume()
        self._poller = asyncio.create_task(self._poll(), name="chatwright-schedules-poll")
        log.info(
            "schedules started: %d static schedules, jobs kept in %s", len(self._statics), self._store_url
        )

    async def shutdown(self, *, drain: float = SHUTDOWN_DRAIN) -> None:
        """Stop firing; a pass under way gets `drain` seconds to append and record its fires, then is cancelled
        (its jobs stay due and fire at the next start, deduped). Jobs stay in the job store."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        await self._scheduler.stop(drain)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            self._scheduler.wakeup()

    def _sync_statics(self) -> None:
        """Write the static schedules. An unchanged one keeps its stored next fire, so fires missed while the
        service was down are seen (and handled by its misfire policy); a changed one starts afresh; static
        jobs no longer configured are removed. A one-off `at` already past and not pending is not re-added."""
        stored = {job.id: job for job in self._scheduler.get_jobs()}
        now = utcnow()
        for schedule in self._statics:
            old = stored.get(schedule.id)
            kwargs = _job_kwargs(
                schedule.event_type,
                schedule.data,
                schedule.description,
                static=True,
                fingerprint=schedule.fingerprint,
                misfire=schedule.misfire,
                grace_time=schedule.grace_time,
            )
            if old is not None and not old.kwargs.get("static"):
                log.warning(
                    "schedule %s: a dynamic job had this id; the static schedule replaces it", schedule.id
                )
                old = None
            if old is not None and old.kwargs.get("fingerprint") == schedule.fingerprint:
                continue
            options: dict[str, Any] = {}
            if old is not None and old.kwargs.get("trigger") == schedule.description and old.next_run_time:
                options["next_run_time"] = old.next_run_time
            elif isinstance(schedule.trigger, DateTrigger) and schedule.trigger.run_date < now:
                log.info(
                    "schedule %s: %s is past and not pending; it will not fire",
                    schedule.id,
                    schedule.description,
                )
                if old is not None:
                    self._scheduler.remove_job(schedule.id)
                continue
            self._add(schedule.id, schedule.trigger, kwargs, **options)
        for job_id, job in stored.items():
            if job.kwargs.get("static") and job_id not in self._static_ids:
                log.info("schedule %s is no longer configured; removing it", job_id)
                self._scheduler.remove_job(job_id)

    def _add(self, job_id: str, trigger: Any, kwargs: dict[str, Any], **options: Any) -> None:
        self._scheduler.add_job(
            FIRE_FUNC,
            trigger,
            id=job_id,
            name=job_id,
            kwargs=kwargs,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
            executor=EXECUTOR_ALIAS,
            **options,
        )

    # -- ScheduleApi: dynamic jobs ---------------------------------------------------------------------------

    async def at(self, when: datetime | str, type: str, data: dict[str, Any] | None, *, id: str) -> str:
        """Fire `type` once at `when` (aware datetime or ISO 8601; naive means this service's timezone).
        A time already past fires at once."""
        moment = parse_instant(when, self._zone, key="when")
        return await self._add_dynamic(
            id, DateTrigger(run_date=moment, timezone=UTC), type, data, f"at {moment.isoformat()}"
        )

    async def after(self, seconds: float, type: str, data: dict[str, Any] | None, *, id: str) -> str:
        """Fire `type` once, `seconds` from now."""
        if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"schedule after: {seconds!r} must be a number of seconds, 0 or more")
        moment = utcnow() + timedelta(seconds=seconds)
        return await self._add_dynamic(
            id, DateTrigger(run_date=moment, timezone=UTC), type, data, f"at {moment.isoformat()}"
        )

    async def cron(
        self, expression: str, type: str, data: dict[str, Any] | None, *, id: str, tz: str = "UTC"
    ) -> str:
        """Fire `type` on a 5-field crontab expression in time zone `tz` until cancelled."""
        trigger = crontab_trigger(expression, tz)
        return await self._add_dynamic(id, trigger, type, data, f"cron {expression} ({tz})")

    async def cancel(self, id: str) -> bool:
        """Remove a dynamic job; True if it existed. Static schedules cannot be cancelled here."""
        self._check_dynamic_id(id)

        def remove() -> bool:
            if self._scheduler.get_job(id) is None and id not in {job.id for job in self.broken_jobs()}:
                return False
            self._scheduler.remove_job(id)
            return True

        return await asyncio.to_thread(remove)

    async def list(self) -> list[ScheduledJob]:
        """The dynamic jobs, soonest first, and the stored jobs that cannot be restored (`broken` set)."""
        jobs, broken = await asyncio.to_thread(self._jobs_and_broken)
        found = [
            ScheduledJob(
                id=job.id,
                event_type=job.kwargs.get("type", ""),
                data=dict(job.kwargs.get("data") or {}),
                trigger=job.kwargs.get("trigger", str(job.trigger)),
                next_fire=self._next_fire(job),
            )
            for job in jobs
            if not job.kwargs.get("static")
        ]
        found += [
            ScheduledJob(
                id=job.id,
                event_type="",
                data={},
                trigger="",
                next_fire=_utc(job.next_run_time),
                broken=job.error,
            )
            for job in broken
        ]
        return sorted(found, key=lambda job: (job.next_fire or _NEVER, job.id))

    def _jobs_and_broken(self) -> tuple[JobList, BrokenJobs]:
        jobs = self._scheduler.get_jobs()  # reads every stored job: what cannot be restored is reported
        return jobs, self.broken_jobs()

    def broken_jobs(self) -> BrokenJobs:
        """The stored jobs the job store could not restore when it last read them: kept, not fired."""
        found: BrokenJobs = getattr(self._jobstore, "broken_jobs", list)()
        return found

    def _check_dynamic_id(self, job_id: str) -> None:
        if not isinstance(job_id, str) or not job_id:
            raise ValueError(f"schedule id {job_id!r} must be a non-empty string")
        if job_id in self._static_ids:
            raise ValueError(f"schedule id {job_id!r} belongs to a static schedule (config or @plugin.cron)")

    async def _add_dynamic(
        self, job_id: str, trigger: Any, event_type: str, data: dict[str, Any] | None, description: str
    ) -> str:
        self._check_dynamic_id(job_id)
        kwargs = _job_kwargs(event_type, data, description, misfire="run-once", grace_time=None)
        await asyncio.to_thread(self._add, job_id, trigger, kwargs)
        return job_id

    # -- for the admin console ---------------------------------------------------------------------------------

    async def rows(self) -> ScheduleRows:
        """Every stored job (static and dynamic, paused ones included) and the broken ones, soonest first."""

        def read() -> ScheduleRows:
            jobs, broken = self._jobs_and_broken()
            found = [
                ScheduleRow(
                    id=job.id,
                    event_type=job.kwargs.get("type", ""),
                    trigger=job.kwargs.get("trigger", str(job.trigger)),
                    static=bool(job.kwargs.get("static")),
                    next_fire=_utc(job.next_run_time),
                    paused=job.next_run_time is None,
                )
                for job in jobs
            ]
            found += [
                ScheduleRow(
                    id=job.id,
                    event_type="",
                    trigger="",
                    static=False,
                    next_fire=_utc(job.next_run_time),
                    paused=False,
                    broken=job.error,
                )
                for job in broken
            ]
            return sorted(found, key=lambda row: (row.next_fire or _NEVER, row.id))

        return await asyncio.to_thread(read)

    async def pause(self, id: str) -> bool:
        """Stop a job firing until `resume` (static schedules too; a changed static schedule starts afresh);
        False if there is no such job."""
        return await asyncio.to_thread(self._change, id, "pause")

    async def resume(self, id: str) -> bool:
        """Fire a paused job again, from its next planned time after now; False if there is no such job."""
        return await asyncio.to_thread(self._change, id, "resume")

    def _change(self, id: str, change: str) -> bool:
        if self._scheduler.get_job(id) is None:
            return False
        if change == "pause":
            self._scheduler.pause_job(id)
        else:
            self._scheduler.resume_job(id)
        return True

    async def fire_now(self, id: str) -> str | None:
        """Append one fire of a job now (its planned fires stay as they were); the event id, or None if there is
        no such job."""
        job = await asyncio.to_thread(self._scheduler.get_job, id)
        if job is None:
            return None
        event = fire_event(id, utcnow(), job.kwargs.get("type", ""), dict(job.kwargs.get("data") or {}))
        await self._fires.append([event])
        return event.id

    # -- a controllable clock, for tests -----------------------------------------------------------------------

    async def fire_due(self, now: datetime) -> int:
        """Fire every job due at `now` as if the clock said so, then move each job on as the scheduler would.

        The testing kit's clock: a test jumps to a shift's reminder time instead of waiting for it. It is a pass
        like the scheduler's own (never at the same time as one; appended before recorded), without the misfire
        policy: the jump is not lateness. Fires carry the same ids as real ones, so a real fire of the same tick
        later is a duplicate. Returns the fires appended.
        """
        return (await self._scheduler.process_due(now, clock_jump=True)).appended

    # -- for `chatwright check` and the admin page -----------------------------------------------------------

    async def overview(self) -> tuple[NextFires, BrokenJobs]:
        """`next_fires()` and `broken_jobs()` read off the event loop (the job store is synchronous: a slow
        read must not hold up other requests), for the admin page and API."""
        return await asyncio.to_thread(lambda: (self.next_fires(), self.broken_jobs()))

    def next_fires(self) -> NextFires:
        """(schedule id, next planned fire in UTC or None), soonest first. Before `start()` (e.g. in
        `chatwright check`) these are the static schedules' next fires from now; once started, every job's."""
        if self.running:
            pairs = [(job.id, self._next_fire(job)) for job in self._scheduler.get_jobs()]
        else:
            now = utcnow()
            pairs = [(schedule.id, schedule.next_fire(now)) for schedule in self._statics]
        return sorted(pairs, key=lambda pair: (pair[1] or _NEVER, pair[0]))

    @staticmethod
    def _next_fire(job: Any) -> datetime | None:
        if hasattr(job, "next_run_time"):
            return _utc(job.next_run_time)
        return _utc(job.trigger.get_next_fire_time(None, utcnow()))  # not yet started: a pending job

    @property
    def statics(self) -> tuple[StaticSchedule, ...]:
        return tuple(self._statics)
