"""What a due fire of a schedule becomes: the misfire policy decides whether it fires, and it is appended to the
inbox as an Event whose id is derived from (schedule id, planned time).

The processing pass (framework.schedules.scheduler) hands over the planned run times of each due job, awaits their
appends and only then records the fire in the job store; the derived id makes a fire repeated after a crash
between the two, or fired by two replicas at once, enqueued once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import attrs

from framework.events import Event, new_event, utcnow
from framework.retries import backoff
from framework.store.base import Append, AppendResult

__all__ = [
    "APPEND_ATTEMPTS",
    "EXECUTOR_ALIAS",
    "FIRE_FUNC",
    "FireAppender",
    "FireNotAppended",
    "FireStats",
    "fire_event",
    "fire_event_id",
]

log = logging.getLogger("chatwright.schedules")

EXECUTOR_ALIAS = "default"
"""The executor every job names: APScheduler's default one, which is never used (FireScheduler's pass appends
the fires itself), but must exist for a stored job to be valid."""
FIRE_FUNC = "framework.triggers.schedule_executor:fire_placeholder"
"""The job function stored with every job. Stored jobs name it by this text: do not move or rename it."""

APPEND_ATTEMPTS = 5
"""How often one pass tries a fire's append when the store fails, with backoff, before leaving the job due."""
APPEND_BASE_DELAY = 0.2
APPEND_MAX_DELAY = 5.0
"""The backoff between those tries (framework.retries.backoff): up to 0.2 s after the first, doubling, 5 s at most."""


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
    """Counters for metrics and tests: fires appended, found already there (a replica or an earlier try
    appended them), dropped by the misfire policy, and appends given up on (their job stayed due)."""

    appended: int = 0
    duplicates: int = 0
    missed: int = 0
    failed: int = 0


class FireNotAppended(Exception):
    """The store kept failing on a fire's append; its job must not be moved on."""


class FireAppender:
    """Turns the planned run times of a due job into events and appends them, committed, with retries.

    FireScheduler's pass calls `events_for` and awaits `append` before it records the fire; `started` marks
    when the scheduler started, before which a `misfire = "skip"` schedule's fires are dropped.
    """

    def __init__(self, append: Append, stats: FireStats) -> None:
        self._append_event = append
        self._stats = stats
        self.started_at = datetime.min.replace(tzinfo=UTC)

    def started(self) -> None:
        self.started_at = utcnow()

    def events_for(self, job: Any, run_times: list[datetime], now: datetime | None) -> list[Event]:
        """The events of the fires planned at `run_times` that still fire at `now` (None: apply no misfire
        policy, as when the testing clock jumps); the others are dropped, counted and logged."""
        kwargs: dict[str, Any] = job.kwargs
        grace: float | None = kwargs.get("grace_time")
        events: list[Event] = []
        for planned in run_times:
            if now is not None:
                late = (now - planned).total_seconds()
                if grace is not None and late > grace:
                    self._missed(job.id, planned, f"{late:.0f}s late, more than grace_time {grace:g}s")
                    continue
                if kwargs.get("misfire") == "skip" and planned < self.started_at:
                    self._missed(job.id, planned, "due while the service was down (misfire = skip)")
                    continue
            events.append(fire_event(job.id, planned, kwargs.get("type", ""), kwargs.get("data") or {}))
        return events

    def _missed(self, job_id: str, planned: datetime, why: str) -> None:
        self._stats.missed += 1
        log.warning("[%s] schedule %s: fire dropped: %s", fire_event_id(job_id, planned), job_id, why)

    async def append(self, events: list[Event]) -> int:
        """Append `events` in order, each committed before the next; return how many were new (the others
        were duplicates). Raises FireNotAppended when the store failed on one `APPEND_ATTEMPTS` times."""
        appended = 0
        for event in events:
            if not (await self._append(event)).duplicate:
                appended += 1
        return appended

    async def _append(self, event: Event) -> AppendResult:
        for attempt in range(1, APPEND_ATTEMPTS + 1):
            try:
                result = await self._append_event(event)
            except Exception as error:
                if attempt == APPEND_ATTEMPTS:
                    self._stats.failed += 1
                    raise FireNotAppended(
                        f"[{event.id}] schedule fire not appended: the store failed {attempt} times: {error}"
                    ) from error
                log.warning("[%s] appending schedule fire failed (attempt %d): %s", event.id, attempt, error)
                await asyncio.sleep(backoff(attempt, APPEND_BASE_DELAY, APPEND_MAX_DELAY))
                continue
            if result.duplicate:
                self._stats.duplicates += 1
                log.info("[%s] schedule fire already in the inbox (a replica or an earlier try)", event.id)
            else:
                self._stats.appended += 1
                log.info("[%s] schedule fired %s", event.id, event.type)
            return result
        raise AssertionError("unreachable: APPEND_ATTEMPTS must be at least 1")
