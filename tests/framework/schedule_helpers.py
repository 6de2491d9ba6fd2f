"""A schedule service on one SQLite file (inbox and job store), for the schedule tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

from framework.events import Event
from framework.plugins import CronSpec
from framework.schedules.jobstores import JOBS_TABLE
from framework.schedules.service import ScheduleConfig, ScheduleService
from framework.store.sqlite import SQLiteStore
from tests.conftest import wait_until

__all__ = ["HOUR", "Harness", "env", "now"]

HOUR = 3600.0


class Harness:
    """One SQLite file holding the inbox and the job store, and the services started on it."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "bot.db"
        self.url = f"sqlite:///{self.path}"
        self.store = SQLiteStore(self.url)
        self.services: list[ScheduleService] = []

    async def service(
        self, static: Sequence[ScheduleConfig | CronSpec] = (), *, start: bool = True, **options: Any
    ) -> ScheduleService:
        service = ScheduleService(self.store, self.url, static, **options)
        self.services.append(service)
        if start:
            await service.start()
        return service

    async def events(self) -> list[Event]:
        """Everything in the inbox, in append order (claimed, then handed back)."""
        entries = await self.store.claim("test", 100_000, lease=60)
        await self.store.release("test")
        return [entry.event for entry in entries]

    async def wait_for_events(self, count: int) -> list[Event]:
        async def enough() -> bool:
            return await self.store.pending() >= count

        await wait_until(enough, timeout=10)
        return await self.events()

    def rewind(self, job_id: str, next_fire: datetime) -> None:
        """Set a stored job's next fire, as if the service had been down since then (a controlled clock)."""
        jobs = SQLAlchemyJobStore(url=f"sqlite:///{self.path}", tablename=JOBS_TABLE)
        try:
            job = jobs.lookup_job(job_id)
            assert job is not None, f"no stored job {job_id!r}"
            job.next_run_time = next_fire
            jobs.update_job(job)
        finally:
            jobs.shutdown()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = Harness(tmp_path)
    await harness.store.open()
    yield harness
    for service in harness.services:
        await service.shutdown()
    await harness.store.close()


def now() -> datetime:
    return datetime.now(UTC)
