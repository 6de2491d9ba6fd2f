"""The APScheduler executor that turns every due fire of a schedule into an Event appended to the inbox.

APScheduler decides *when* (it hands over the planned run times, coalesced); this executor decides *whether*
(the misfire policy) and appends one event per fire whose id is derived from (schedule id, planned time), so
two replicas firing the same tick, or a fire repeated after a crash, are enqueued once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import attrs
from apscheduler.executors.base import BaseExecutor

from framework.events import Event, new_event, utcnow
from framework.store.base import Store

__all__ = [
    "EXECUTOR_ALIAS",
    "FIRE_FUNC",
    "FireExecutor",
    "FireStats",
    "fire_event",
    "fire_event_id",
    "fire_placeholder",
]

log = logging.getLogger("chatwright.schedules")

EXECUTOR_ALIAS = "default"
FIRE_FUNC = "framework.triggers.schedule_executor:fire_placeholder"
"""The job function stored with every job. Stored jobs name it by this text: do not move or rename it."""

APPEND_ATTEMPTS = 5
"""How often a fire's append is tried when the store fails, with backoff, before the fire is given up."""


def fire_placeholder(**_: Any) -> None:
    """The job function APScheduler keeps for each job; FireExecutor appends events instead of calling it."""


def fire_event_id(job_id: str, planned: datetime) -> str:
    """The event id (and dedupe key) of the fire of `job_id` planned for `planned`."""
    return f"schedule:{job_id}:{planned.astimezone(UTC).isoformat()}"


def fire_event(job_id: str, planned: datetime, event_type: str, data: dict[str, Any]) -> Event:
    """The Event of one fire: occurred at the planned time, from source `schedule:<job id>`."""
    return new_event(
        event_type,
        data,
        id=fire_event_id(job_id, planned),
        source=f"schedule:{job_id}",
        occurred_at=planned.astimezone(UTC),
    )


@attrs.define
class FireStats:
    """Counters for metrics and tests: fires appended, found already there, dropped as missed, failed."""

    appended: int = 0
    duplicates: int = 0
    missed: int = 0
    failed: int = 0


class FireExecutor(BaseExecutor):  # type: ignore[misc]  # APScheduler is untyped
    """Appends the events of due fires to the Store, concurrently, so the store can commit them in batches."""

    def __init__(self, store: Store, stats: FireStats) -> None:
        super().__init__()
        self._store = store
        self._stats = stats
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started_at = datetime.min.replace(tzinfo=UTC)

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        self._loop = asyncio.get_running_loop()
        self.started_at = utcnow()

    def submit_job(self, job: Any, run_times: list[datetime]) -> None:
        # No max_instances bookkeeping: appending is idempotent, so overlapping fires of one job are harmless.
        self._do_submit_job(job, run_times)

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        kwargs: dict[str, Any] = job.kwargs
        grace: float | None = kwargs.get("grace_time")
        now = utcnow()
        events: list[Event] = []
        for planned in run_times:
            late = (now - planned).total_seconds()
            if grace is not None and late > grace:
                self._missed(job.id, planned, f"{late:.0f}s late, more than grace_time {grace:g}s")
            elif kwargs.get("misfire") == "skip" and planned < self.started_at:
                self._missed(job.id, planned, "due while the service was down (misfire = skip)")
            else:
                events.append(fire_event(job.id, planned, kwargs.get("type", ""), kwargs.get("data") or {}))
        if events:
            assert self._loop is not None, "FireExecutor used before start"
            task = self._loop.create_task(self._append_all(events))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _missed(self, job_id: str, planned: datetime, why: str) -> None:
        self._stats.missed += 1
        log.warning("[%s] schedule %s: fire dropped: %s", fire_event_id(job_id, planned), job_id, why)

    async def _append_all(self, events: list[Event]) -> None:
        for event in events:
            await self._append(event)

    async def _append(self, event: Event) -> None:
        for attempt in range(1, APPEND_ATTEMPTS + 1):
            try:
                result = await self._store.append(event)
            except Exception as error:
                if attempt == APPEND_ATTEMPTS:
                    self._stats.failed += 1
                    log.error(
                        "[%s] schedule fire lost: the store failed %d times: %s", event.id, attempt, error
                    )
                    return
                log.warning("[%s] appending schedule fire failed (attempt %d): %s", event.id, attempt, error)
                await asyncio.sleep(min(0.1 * 2**attempt, 5.0))
                continue
            if result.duplicate:
                self._stats.duplicates += 1
                log.info("[%s] schedule fire already in the inbox (another replica fired it)", event.id)
            else:
                self._stats.appended += 1
                log.info("[%s] schedule fired %s", event.id, event.type)
            return

    @property
    def in_flight(self) -> int:
        """Fires handed over by APScheduler whose append has not finished yet."""
        return len(self._tasks)

    async def drain(self, timeout: float) -> None:
        """Wait for the appends under way (at shutdown); after `timeout` seconds, give up on the rest."""
        if not self._tasks:
            return
        _, unfinished = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in unfinished:
            task.cancel()
        if unfinished:
            log.error(
                "%d schedule fires were not appended within %.1fs of shutdown", len(unfinished), timeout
            )
