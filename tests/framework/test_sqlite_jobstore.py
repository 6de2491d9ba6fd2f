"""SQLiteJobStore behaves as APScheduler's SQLAlchemyJobStore does, on the same table layout."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger

from framework.schedules.sqlite_jobstore import SQLiteJobStore
from tests.framework.store_fixtures import errors_opening_at_once

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
TABLE = "jobs"


def sqlite_store(path: Path) -> Any:
    return SQLiteJobStore(str(path), table=TABLE)


def sqlalchemy_store(path: Path) -> Any:
    return SQLAlchemyJobStore(url=f"sqlite:///{path}", tablename=TABLE)


StoreFactory = Callable[[Path], Any]


@pytest.fixture
def scheduler() -> BackgroundScheduler:
    return BackgroundScheduler(timezone="UTC")


def started(factory: StoreFactory, path: Path, scheduler: BackgroundScheduler) -> Any:
    store = factory(path)
    store.start(scheduler, "default")
    return store


@pytest.fixture(params=[sqlite_store, sqlalchemy_store], ids=["sqlite3", "sqlalchemy-reference"])
def store(request: pytest.FixtureRequest, tmp_path: Path, scheduler: BackgroundScheduler) -> Iterator[Any]:
    opened = started(request.param, tmp_path / "jobs.db", scheduler)
    yield opened
    opened.shutdown()


def job(scheduler: BackgroundScheduler, job_id: str, at: datetime | None) -> Job:
    return Job(
        scheduler,
        id=job_id,
        func="os:getcwd",
        args=(),
        kwargs={},
        trigger=DateTrigger(T0, timezone=UTC),
        executor="default",
        name=job_id,
        misfire_grace_time=None,
        coalesce=True,
        max_instances=1,
        next_run_time=at,
    )


def test_add_lookup_update_remove(store: Any, scheduler: BackgroundScheduler) -> None:
    store.add_job(job(scheduler, "a", T0))
    found = store.lookup_job("a")
    assert (found.id, found.next_run_time, found.func_ref) == ("a", T0, "os:getcwd")
    with pytest.raises(ConflictingIdError):
        store.add_job(job(scheduler, "a", T0))
    store.update_job(job(scheduler, "a", T0 + timedelta(hours=1)))
    assert store.lookup_job("a").next_run_time == T0 + timedelta(hours=1)
    store.remove_job("a")
    assert store.lookup_job("a") is None
    with pytest.raises(JobLookupError):
        store.remove_job("a")
    with pytest.raises(JobLookupError):
        store.update_job(job(scheduler, "a", T0))


def test_due_and_next_run_time_and_paused_jobs_last(store: Any, scheduler: BackgroundScheduler) -> None:
    assert store.get_next_run_time() is None
    store.add_job(job(scheduler, "later", T0 + timedelta(minutes=5)))
    store.add_job(job(scheduler, "paused", None))
    store.add_job(job(scheduler, "soon", T0))
    assert store.get_next_run_time() == T0
    assert [j.id for j in store.get_due_jobs(T0)] == ["soon"]
    assert [j.id for j in store.get_due_jobs(T0 + timedelta(hours=1))] == ["soon", "later"]
    assert [j.id for j in store.get_all_jobs()] == ["soon", "later", "paused"]
    store.remove_all_jobs()
    assert store.get_all_jobs() == []


def test_a_job_that_cannot_be_restored_is_left_out_and_kept_by_ours_only(
    store: Any, scheduler: BackgroundScheduler, tmp_path: Path
) -> None:
    store.add_job(job(scheduler, "good", T0))
    with sqlite3.connect(tmp_path / "jobs.db") as db:
        db.execute(f"INSERT INTO {TABLE} (id, next_run_time, job_state) VALUES ('bad', 0, x'00')")
    assert [j.id for j in store.get_all_jobs()] == ["good"]
    assert store.lookup_job("bad") is None
    with sqlite3.connect(tmp_path / "jobs.db") as db:
        (rows,) = db.execute(f"SELECT COUNT(*) FROM {TABLE} WHERE id = 'bad'").fetchone()
    if isinstance(store, SQLiteJobStore):  # APScheduler's deletes it; ours keeps and reports it
        assert rows == 1
        assert [(j.id, j.next_run_time) for j in store.broken_jobs()] == [
            ("bad", datetime(1970, 1, 1, tzinfo=UTC))
        ]
        assert store.get_next_run_time() == T0  # not the broken job's
    else:
        assert rows == 0


@pytest.mark.parametrize(
    ("writer", "reader"), [(sqlite_store, sqlalchemy_store), (sqlalchemy_store, sqlite_store)]
)
def test_files_are_shared_with_sqlalchemy_job_store(
    writer: StoreFactory, reader: StoreFactory, tmp_path: Path, scheduler: BackgroundScheduler
) -> None:
    first = started(writer, tmp_path / "jobs.db", scheduler)
    first.add_job(job(scheduler, "a", T0))
    first.shutdown()
    second = started(reader, tmp_path / "jobs.db", scheduler)
    try:
        assert [(j.id, j.next_run_time) for j in second.get_due_jobs(T0)] == [("a", T0)]
    finally:
        second.shutdown()


def test_unsafe_table_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="letters, digits and underscores"):
        SQLiteJobStore(str(tmp_path / "x.db"), table="jobs; DROP TABLE inbox")


def test_the_processes_of_a_host_start_their_job_stores_on_a_new_file_at_once(
    tmp_path: Path, scheduler: BackgroundScheduler
) -> None:
    """Two connections switching a new file to WAL at the same moment make SQLite answer "database is locked"
    without waiting, whatever the busy timeout: that process's scheduler would not start (here two race 60
    times)."""
    errors = errors_opening_at_once(
        60,
        lambda attempt: SQLiteJobStore(str(tmp_path / f"bot{attempt}.db"), table=TABLE),
        lambda store: store.start(scheduler, "default"),
        lambda store: store.shutdown(),
    )
    assert not errors, errors[:3]
