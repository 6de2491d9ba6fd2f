"""Replicas sharing a Redis job store: a job one replica removes (it fired it) while another reads its due jobs
is simply gone for the reader - no "Unable to restore job ... removing it", no job removed or re-added that
should not be."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from framework.schedules.fires import EXECUTOR_ALIAS, FIRE_FUNC
from framework.schedules.jobstores import build_job_store
from framework.schedules.service import ScheduleService
from framework.store.sqlite import SQLiteStore
from tests.conftest import wait_until

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def replicas(redis_url: str) -> Iterator[tuple[Any, Any]]:
    """Two job stores on one Redis, as two replicas have them."""
    stores = []
    for _ in range(2):
        store = build_job_store(redis_url)
        store.start(BackgroundScheduler(timezone=UTC), "default")
        stores.append(store)
    yield stores[0], stores[1]
    for store in stores:
        store.shutdown()


def one_off(store: Any, job_id: str, at: datetime = T0) -> Any:
    from apscheduler.job import Job
    from apscheduler.triggers.date import DateTrigger

    return Job(
        store._scheduler,
        id=job_id,
        func=FIRE_FUNC,
        args=(),
        kwargs={"type": "tick", "data": {}},
        trigger=DateTrigger(at, timezone=UTC),
        executor=EXECUTOR_ALIAS,
        name=job_id,
        misfire_grace_time=None,
        coalesce=True,
        max_instances=1,
        next_run_time=at,
    )


def test_a_job_removed_between_reading_due_ids_and_states_is_gone_quietly(
    replicas: tuple[Any, Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    firer, reader = replicas
    firer.add_job(one_off(firer, "once"))
    firer.add_job(one_off(firer, "other"))
    hmget = reader.redis.hmget

    def fired_meanwhile(*args: Any) -> Any:
        firer.remove_job("once")  # the other replica fired it and removes it...
        states = hmget(*args)
        firer.add_job(one_off(firer, "once", T0 + timedelta(hours=1)))  # ...and a handler schedules it again
        return states

    monkeypatch.setattr(reader.redis, "hmget", fired_meanwhile)
    caplog.set_level(logging.DEBUG)
    assert [job.id for job in reader.get_due_jobs(T0)] == ["other"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    # the job scheduled again is not taken for the one that was gone
    assert firer.lookup_job("once").next_run_time == T0 + timedelta(hours=1)


def test_an_update_racing_a_removal_does_not_add_the_job_back(
    replicas: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    firer, other = replicas
    firer.add_job(one_off(firer, "weekly"))
    job = other.lookup_job("weekly")
    execute = other.redis.execute_command
    removed: list[str] = []

    def cancelled_meanwhile(*args: Any, **options: Any) -> Any:
        answer = execute(*args, **options)
        if not removed:  # right after the update's first command: another replica (or cancel) removes it
            firer.remove_job("weekly")
            removed.append("weekly")
        return answer

    monkeypatch.setattr(other.redis, "execute_command", cancelled_meanwhile)
    job._modify(next_run_time=T0 + timedelta(days=7))
    other.update_job(job)  # as the scheduler records a fire; a job removed meanwhile stays removed
    assert removed == ["weekly"]
    assert firer.lookup_job("weekly") is None
    assert firer.redis.zscore(firer.run_times_key, "weekly") is None


async def test_three_replicas_fire_one_offs_once_without_errors(
    redis_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox = SQLiteStore(f"sqlite:///{tmp_path}/inbox.db")
    await inbox.open()
    services = [ScheduleService(inbox, redis_url, poll_interval=0.01) for _ in range(3)]
    caplog.set_level(logging.INFO)
    for service in services:
        await service.start()
    count = 24
    try:
        for round_ in range(3):
            due = datetime.now(UTC) + timedelta(seconds=0.3)
            await asyncio.gather(
                *(
                    services[i % 3].at(due + timedelta(milliseconds=i), "tick", {"i": i}, id=f"r{round_}-{i}")
                    for i in range(count)
                )
            )

            async def all_fired(expected: int = (round_ + 1) * count) -> bool:
                return await inbox.pending() == expected

            await wait_until(all_fired)
        await asyncio.sleep(0.2)
        assert await inbox.pending() == 3 * count
        assert [await service.list() for service in services] == [[], [], []]
    finally:
        for service in services:
            await service.shutdown()
        await inbox.close()
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not problems, "\n".join(r.getMessage() for r in problems)
    assert sum(service.stats.appended for service in services) == 3 * count
