"""Schedules across crashes: a fire is appended before its job is moved on, so a kill at any point repeats it
(deduped to one inbox event) and never loses it; a failing store leaves the job due; passes never overlap."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

from framework.events import Event
from framework.schedules import fires, scheduler
from framework.schedules.fires import fire_event_id
from framework.schedules.jobstores import JOBS_TABLE
from framework.schedules.service import ScheduleConfig, ScheduleService
from framework.store.base import AppendResult
from framework.store.sqlite import SQLiteStore
from tests.conftest import wait_until
from tests.framework.schedule_helpers import HOUR, Harness, now
from tests.framework.schedule_helpers import env as env


class StalledInbox(SQLiteStore):
    """The inbox file seen by another process, whose appends halt until `go` is set: before the event reaches
    the file, or (`commit_first`) right after it committed, before the append returns."""

    def __init__(self, url: str, *, commit_first: bool = False) -> None:
        super().__init__(url)
        self.commit_first = commit_first
        self.stalled = asyncio.Event()
        self.go = asyncio.Event()
        self.calls = 0

    async def append(self, event: Event, **options: Any) -> AppendResult:
        self.calls += 1
        committed = await super().append(event, **options) if self.commit_first else None
        self.stalled.set()
        await self.go.wait()
        return committed if committed is not None else await super().append(event, **options)


class FailingInbox(SQLiteStore):
    """The inbox file, whose appends fail while `broken` (a full disk, a lost connection)."""

    broken = True

    async def append(self, event: Event, **options: Any) -> AppendResult:
        if self.broken:
            raise OSError("disk I/O error")
        return await super().append(event, **options)


def stored_job(env: Harness, job_id: str) -> Any:
    """The job as the job store on disk holds it (None when there is none): what a restart would find."""
    jobs = SQLAlchemyJobStore(url=f"sqlite:///{env.path}", tablename=JOBS_TABLE)
    try:
        return jobs.lookup_job(job_id)
    finally:
        jobs.shutdown()


async def other_process(env: Harness, inbox: SQLiteStore, static: list[ScheduleConfig] | None = None) -> Any:
    await inbox.open()
    service = ScheduleService(inbox, env.url, static or [])
    await service.start()
    return service


@contextlib.asynccontextmanager
async def serving(env: Harness, inbox: SQLiteStore) -> AsyncIterator[ScheduleService]:
    """A schedule service on `inbox` in "another process", shut down gracefully at the end."""
    service = await other_process(env, inbox)
    env.services.append(service)
    try:
        yield service
    finally:
        await service.shutdown()
        await inbox.close()


async def kill(service: ScheduleService, inbox: SQLiteStore) -> None:
    """What `kill -9` leaves: the pass is cancelled where it stands, nothing after that point runs."""
    await service.shutdown(drain=0)
    await inbox.close()


async def no_job_left(service: ScheduleService) -> None:
    async def empty() -> bool:
        return await service.list() == []

    await wait_until(empty)


def past(minutes: float = 1) -> datetime:
    return now() - timedelta(minutes=minutes)


# -- kills -------------------------------------------------------------------------------------------------


async def test_a_fire_killed_before_its_append_committed_stays_due_and_fires_once_after_a_restart(
    env: Harness,
) -> None:
    inbox = StalledInbox(env.url)
    doomed = await other_process(env, inbox)
    planned = past()
    await doomed.at(planned, "shift.reminder", {"shift": "s1"}, id="remind")
    await asyncio.wait_for(inbox.stalled.wait(), 10)
    await kill(doomed, inbox)

    assert await env.store.pending() == 0
    assert stored_job(env, "remind").next_run_time == planned  # not moved on: the restart sees it due

    service = await env.service()
    (event,) = await env.wait_for_events(1)
    assert (event.id, event.data) == (fire_event_id("remind", planned), {"shift": "s1"})
    await no_job_left(service)
    assert len(await env.events()) == 1
    assert (service.stats.appended, service.stats.duplicates) == (1, 0)


async def test_a_fire_killed_after_its_append_committed_fires_again_and_the_inbox_keeps_one(
    env: Harness,
) -> None:
    hourly = ScheduleConfig(id="hourly", event="tick", interval=HOUR)
    await (await env.service([hourly])).shutdown()
    tick = past(5)
    env.rewind("hourly", tick)
    inbox = StalledInbox(env.url, commit_first=True)
    doomed = await other_process(env, inbox, [hourly])
    await asyncio.wait_for(inbox.stalled.wait(), 10)
    await kill(doomed, inbox)

    assert [event.id for event in await env.events()] == [fire_event_id("hourly", tick)]
    assert stored_job(env, "hourly").next_run_time == tick  # appended, but the job store never heard of it

    service = await env.service([hourly])
    await wait_until(lambda: service.stats.duplicates == 1)
    await wait_until(lambda: dict(service.next_fires())["hourly"] == tick + timedelta(hours=1))
    assert [event.id for event in await env.events()] == [fire_event_id("hourly", tick)]
    assert service.stats.appended == 0


async def test_shutdown_lets_the_pass_under_way_append_and_record_its_fires(env: Harness) -> None:
    inbox = StalledInbox(env.url)
    service = await other_process(env, inbox)
    planned = past()
    await service.at(planned, "shift.reminder", None, id="remind")
    await asyncio.wait_for(inbox.stalled.wait(), 10)
    stopping = asyncio.create_task(service.shutdown())
    inbox.go.set()
    await stopping
    await inbox.close()

    assert [event.id for event in await env.events()] == [fire_event_id("remind", planned)]
    assert stored_job(env, "remind") is None


# -- a failing store -----------------------------------------------------------------------------------------


async def test_a_fire_the_store_refuses_leaves_its_job_due_and_is_tried_again_on_later_passes(
    env: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(fires, "APPEND_ATTEMPTS", 1)
    monkeypatch.setattr(scheduler, "FIRE_RETRY_DELAY", 0.05)
    inbox = FailingInbox(env.url)
    async with serving(env, inbox) as service:
        planned = past()
        await service.at(planned, "shift.reminder", None, id="remind")
        await wait_until(lambda: service.stats.failed >= 2)  # given up twice: two passes, the job left due

        assert stored_job(env, "remind").next_run_time == planned
        assert await env.store.pending() == 0
        fire_id = fire_event_id("remind", planned)
        assert (
            f"[{fire_id}] schedule fire not appended: the store failed 1 times: disk I/O error" in caplog.text
        )
        assert "schedule remind stays due and is tried again" in caplog.text

        inbox.broken = False
        (event,) = await env.wait_for_events(1)
        assert event.id == fire_id
        await no_job_left(service)
        assert service.stats.appended == 1


# -- what a pass must not trample ------------------------------------------------------------------------------


async def test_a_job_rescheduled_while_its_fire_is_appended_keeps_its_new_time(env: Harness) -> None:
    inbox = StalledInbox(env.url)
    async with serving(env, inbox) as service:
        await service.at(past(), "shift.reminder", {"n": 1}, id="remind")
        await asyncio.wait_for(inbox.stalled.wait(), 10)
        later = now() + timedelta(hours=1)
        await service.at(later, "shift.reminder", {"n": 2}, id="remind")  # a handler snoozing it as it fires
        inbox.go.set()
        assert await service.fire_due(now()) == 0  # runs after the pass under way: nothing else is due

        (job,) = await service.list()
        assert (job.next_fire, job.data) == (later, {"n": 2})
        assert service.stats.appended == 1


async def test_fire_due_waits_for_the_pass_under_way_instead_of_firing_alongside_it(env: Harness) -> None:
    inbox = StalledInbox(env.url)
    async with serving(env, inbox) as service:
        await service.at(past(), "shift.reminder", None, id="remind")
        await asyncio.wait_for(inbox.stalled.wait(), 10)
        jump = asyncio.create_task(service.fire_due(now()))
        inbox.go.set()
        assert await jump == 0
        assert inbox.calls == 1
        assert await service.list() == []
