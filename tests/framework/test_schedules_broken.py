"""Stored jobs that cannot be restored (a reference they were pickled with no longer imports) are kept in the job
store, reported once with their id and error, listed as broken, and never deleted nor fired."""

from __future__ import annotations

import logging
import pickle
import sqlite3
import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from framework.schedules.jobstores import JOBS_TABLE, build_job_store
from framework.schedules.service import ScheduleService
from framework.store.sqlite import SQLiteStore
from tests.conftest import wait_until

MISSING = "chatwright_test_module_that_is_gone"


class Gone:
    """Pickled while importable as MISSING.Gone, then that module is gone."""


def pickle_pointing_at_a_missing_module(state: dict[str, Any]) -> bytes:
    module = types.ModuleType(MISSING)
    module.Gone = Gone  # type: ignore[attr-defined]
    Gone.__module__ = MISSING
    sys.modules[MISSING] = module
    try:
        return pickle.dumps({**state, "args": (Gone(),)})
    finally:
        del sys.modules[MISSING]
        Gone.__module__ = __name__


class JobRows:
    """Read and write a stored job's pickled state and next run time, in a SQLite or a Redis job store."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self.path = url.removeprefix("sqlite:///")
        else:
            import redis

            job_store = build_job_store(url)
            self.jobs_key, self.run_times_key = job_store.jobs_key, job_store.run_times_key
            self.redis = redis.Redis.from_url(url.split("?")[0])

    def read(self, job_id: str) -> bytes | None:
        if self.url.startswith("sqlite"):
            with sqlite3.connect(self.path) as db:
                row = db.execute(f"SELECT job_state FROM {JOBS_TABLE} WHERE id = ?", (job_id,)).fetchone()
            return None if row is None else bytes(row[0])
        state: Any = self.redis.hget(self.jobs_key, job_id)
        return None if state is None else bytes(state)

    def write(self, job_id: str, state: bytes, due: datetime) -> None:
        if self.url.startswith("sqlite"):
            with sqlite3.connect(self.path) as db:
                db.execute(
                    f"UPDATE {JOBS_TABLE} SET job_state = ?, next_run_time = ? WHERE id = ?",
                    (state, due.timestamp(), job_id),
                )
        else:
            self.redis.hset(self.jobs_key, job_id, state)
            self.redis.zadd(self.run_times_key, {job_id: due.timestamp()})


@pytest.fixture(params=["sqlite", "redis"])
def job_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/bot.db"
    else:
        yield request.getfixturevalue("redis_url")


async def test_a_job_that_cannot_be_restored_is_kept_reported_and_not_fired(
    job_store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = SQLiteStore(f"sqlite:///{tmp_path}/inbox.db")
    await inbox.open()
    first = ScheduleService(inbox, job_store_url)
    await first.start()
    await first.after(3600, "later", {"n": 1}, id="bad-function")
    await first.after(3600, "later", {"n": 2}, id="bad-pickle")
    await first.after(3600, "later", {"n": 3}, id="healthy")
    await first.shutdown()

    rows = JobRows(job_store_url)
    due = datetime.now(UTC) - timedelta(seconds=5)  # due: a pass reads them at once, and again and again
    state = pickle.loads(rows.read("bad-function") or b"")
    rows.write("bad-function", pickle.dumps({**state, "func": f"{MISSING}:fire_placeholder"}), due)
    state = pickle.loads(rows.read("bad-pickle") or b"")
    rows.write("bad-pickle", pickle_pointing_at_a_missing_module(state), due)
    kept = {job_id: rows.read(job_id) for job_id in ("bad-function", "bad-pickle")}

    caplog.set_level(logging.DEBUG, "chatwright.schedules")
    for restart in range(2):
        service = ScheduleService(inbox, job_store_url, poll_interval=0.02)
        await service.start()
        try:
            await service.after(0.1, "soon", {"restart": restart}, id="soon")
            await wait_until(lambda s=service.stats: s.appended == 1)  # type: ignore[misc]
            listed = {
                job.id: job for job in await service.list() if job.id != "soon"
            }  # soon: maybe not yet removed
            assert set(listed) == {"bad-function", "bad-pickle", "healthy"}
            assert listed["healthy"].broken is None
            assert MISSING in (listed["bad-function"].broken or "")
            assert f"No module named '{MISSING}'" in (listed["bad-pickle"].broken or "")
            assert listed["bad-pickle"].next_fire is not None
            assert listed["bad-pickle"].next_fire.timestamp() == pytest.approx(due.timestamp(), abs=1)
            fires, broken = await service.overview()
            assert {job.id for job in broken} == {"bad-function", "bad-pickle"}
            assert {job_id for job_id, _ in fires} - {"soon"} == {"healthy"}
            # a broken job does not keep the scheduler busy: its next run time is left out
            assert service._jobstore.get_next_run_time() > datetime.now(UTC)
        finally:
            await service.shutdown()
        assert {job_id: rows.read(job_id) for job_id in kept} == kept
        assert service.stats.appended == 1  # "soon"; the broken ones never fired
        for job_id in kept:
            reports = [r for r in caplog.records if r.levelno == logging.ERROR and job_id in r.getMessage()]
            assert len(reports) == 1, f"{job_id} reported {len(reports)} times in one run"
        assert not any("removing it" in r.getMessage() for r in caplog.records)
        caplog.clear()

    last = ScheduleService(inbox, job_store_url)
    await last.start()
    try:
        assert await last.cancel("bad-pickle") is True
        assert rows.read("bad-pickle") is None
        assert [job.id for job in await last.list() if job.broken] == ["bad-function"]
    finally:
        await last.shutdown()
        await inbox.close()


def test_the_job_function_stored_jobs_name_still_imports() -> None:
    # Every stored job names its function by this text; were it to stop importing, every job would be broken.
    from apscheduler.util import ref_to_obj

    from framework.schedules.fires import FIRE_FUNC

    assert FIRE_FUNC == "framework.triggers.schedule_executor:fire_placeholder"
    assert callable(ref_to_obj(FIRE_FUNC))
