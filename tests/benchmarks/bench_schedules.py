"""Benchmark 5, schedules: 10,000 dynamic jobs in the persistent job store, 1,000 of them due in the same instant.

A round is two child processes on the server core, as a deploy with a restart in between would be:
1. `schedule`: start, add the jobs one after another (9,000 a day ahead, then 1,000 due at one instant T a few
   seconds ahead, T chosen from the measured adding rate), report the time it took and the RSS, stop.
2. `fire`: start again on the same file, count the jobs found (none may be lost), wait until the 1,000 have
   fired and been handled, report fire lateness (handled at - planned) p50/p99/max and the jobs left.

chatwright adds through `ScheduleService.at` (what `ctx.schedule.at` calls) on a SQLite store and fires through
its executor, inbox and worker into a handler. The baseline is APScheduler 3 alone: an AsyncIOScheduler with an
SQLAlchemyJobStore on a SQLite file and a coroutine job that records its lateness.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.benchmarks.harness import Bar, Cores, Report, Series, Settings, emit_result, run_on_loop, spawn

__all__ = ["run"]


class _Fires:
    """What the baseline's job function saw in this child process: each fire's lateness; `done` once all came."""

    def __init__(self) -> None:
        self.lateness: list[float] = []
        self.expected = 0
        self.done = asyncio.Event()


_FIRES = _Fires()


async def baseline_job(planned: float) -> None:
    """The raw APScheduler job: record how late it runs."""
    _FIRES.lateness.append(time.time() - planned)
    if len(_FIRES.lateness) >= _FIRES.expected:
        _FIRES.done.set()


def _rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


def _plan(jobs: int, due: int) -> tuple[int, datetime]:
    far = datetime.now(UTC) + timedelta(days=1)
    return jobs - due, far


# -- chatwright ---------------------------------------------------------------------------------------------------


def _runtime(db: Path, plugins: list[Any]) -> Any:
    from framework.config import config_from_dict
    from framework.runtime import Runtime

    config = config_from_dict(
        {"store": {"url": f"sqlite:///{db / 'bench.db'}"}, "plugins": {"entry_points": False}},
        db / "bench.toml",
        "bench.toml",
        {},
    )
    return Runtime(config, plugins=plugins, providers={})


async def _ours_schedule(db: Path, jobs: int, due: int, budget: float) -> dict[str, Any]:
    runtime = _runtime(db, [])
    await runtime.start(worker=False)
    schedules = runtime.schedules
    assert schedules is not None
    far_count, far = _plan(jobs, due)
    started = time.perf_counter()
    for i in range(far_count):
        await schedules.at(far + timedelta(seconds=i), "bench.later", {"n": i}, id=f"later-{i}")
    rate = far_count / max(time.perf_counter() - started, 1e-9)
    due_at = datetime.now(UTC) + timedelta(seconds=due / rate * 1.5 + budget)
    for i in range(due):
        await schedules.at(due_at, "bench.due", {"n": i}, id=f"due-{i}")
    elapsed = time.perf_counter() - started
    rss = _rss_mb()
    await runtime.stop()
    return {"schedule_s": elapsed, "rss_mb": rss, "due_at": due_at.timestamp()}


async def _ours_fire(db: Path, jobs: int, due: int, due_at: float) -> dict[str, Any]:
    from tests.benchmarks.plugins import recording_plugin

    lateness: list[float] = []
    all_fired = asyncio.Event()

    def record(event: Any, now: float) -> None:
        lateness.append(now - event.occurred_at.timestamp())
        if len(lateness) == due:
            all_fired.set()

    runtime = _runtime(db, [recording_plugin("bench.due", record)])
    await runtime.start()
    assert runtime.schedules is not None
    rss = _rss_mb()
    found = len(await runtime.schedules.list())
    started_late = time.time() > due_at
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_fired.wait(), timeout=max(0.0, due_at - time.time()) + 60)
    left = len(await runtime.schedules.list())
    await runtime.stop()
    return {
        "found": found,
        "fired": len(lateness),
        "left": left,
        "rss_mb": rss,
        "restarted_after_due": started_late,
        **_percentiles(lateness),
    }


# -- the baseline: APScheduler alone ------------------------------------------------------------------------------


def _scheduler(db: Path) -> Any:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    return AsyncIOScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{db / 'raw.db'}")},
        job_defaults={"misfire_grace_time": None, "coalesce": True},
        timezone=UTC,
    )


async def _baseline_schedule(db: Path, jobs: int, due: int, budget: float) -> dict[str, Any]:
    scheduler = _scheduler(db)
    # Paused: jobs go to the store as they are added, but none runs in this process, where its fire would not be
    # counted (on a slow day adding can take longer than planned and reach T before the restart).
    scheduler.start(paused=True)
    far_count, far = _plan(jobs, due)
    func = f"{__name__}:baseline_job"
    started = time.perf_counter()
    for i in range(far_count):
        when = far + timedelta(seconds=i)
        scheduler.add_job(func, "date", run_date=when, id=f"later-{i}", kwargs={"planned": when.timestamp()})
    rate = far_count / max(time.perf_counter() - started, 1e-9)
    due_at = datetime.now(UTC) + timedelta(seconds=due / rate * 1.5 + budget)
    for i in range(due):
        scheduler.add_job(
            func, "date", run_date=due_at, id=f"due-{i}", kwargs={"planned": due_at.timestamp()}
        )
    elapsed = time.perf_counter() - started
    rss = _rss_mb()
    scheduler.shutdown(wait=False)
    return {"schedule_s": elapsed, "rss_mb": rss, "due_at": due_at.timestamp()}


async def _baseline_fire(db: Path, jobs: int, due: int, due_at: float) -> dict[str, Any]:
    _FIRES.expected = due
    scheduler = _scheduler(db)
    scheduler.start()
    found = len(scheduler.get_jobs())
    rss = _rss_mb()
    started_late = time.time() > due_at
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_FIRES.done.wait(), timeout=max(0.0, due_at - time.time()) + 60)
    left = len(scheduler.get_jobs())
    scheduler.shutdown(wait=False)
    return {
        "found": found,
        "fired": len(_FIRES.lateness),
        "left": left,
        "rss_mb": rss,
        "restarted_after_due": started_late,
        **_percentiles(list(_FIRES.lateness)),
    }


# -- the driver ---------------------------------------------------------------------------------------------------


def measure(variant: str, settings: Settings, cores: Cores) -> dict[str, Any]:
    jobs, due = settings.schedule_jobs, settings.schedule_due
    with tempfile.TemporaryDirectory(prefix="chatwright-bench-") as directory:
        common = ["--variant", variant, "--db", directory, "--jobs", str(jobs), "--due", str(due)]
        added = spawn(
            "tests.benchmarks.bench_schedules",
            *("schedule", *common, "--budget", str(settings.restart_budget)),
            cpus=cores.server,
        ).result()
        fired = spawn(
            "tests.benchmarks.bench_schedules",
            *("fire", *common, "--due-at", str(added["due_at"])),
            cpus=cores.server,
        ).result()
    return {"schedule_s": added["schedule_s"], "rss_after_adding_mb": added["rss_mb"], **fired}


def run(settings: Settings, cores: Cores) -> Report:
    jobs, due = settings.schedule_jobs, settings.schedule_due
    report = Report(
        "schedules", f"5. Schedules ({jobs} dynamic jobs, {due} due at the same instant, restart)"
    )
    adding = report.add(Series(f"time to add {jobs} jobs", "s", baseline=[], higher_is_better=False))
    rss = report.add(Series("RSS after adding", "MB", baseline=[], higher_is_better=False))
    p50 = report.add(Series("fire lateness p50", "ms", baseline=[], higher_is_better=False))
    p99 = report.add(Series("fire lateness p99", "ms", baseline=[], higher_is_better=False))
    lost: list[str] = []
    for _ in range(settings.schedule_rounds):
        ours = measure("ours", settings, cores)
        base = measure("baseline", settings, cores)
        for series, key in (
            (adding, "schedule_s"),
            (rss, "rss_after_adding_mb"),
            (p50, "p50_ms"),
            (p99, "p99_ms"),
        ):
            assert series.baseline is not None
            series.ours.append(ours[key])
            series.baseline.append(base[key])
        for name, found in (("chatwright", ours), ("APScheduler", base)):
            if found["found"] != jobs or found["fired"] != due or found["left"] != jobs - due:
                problem = (
                    f"{name}: found {found['found']} of {jobs} after the restart, {found['fired']} of {due} fired,"
                    f" {found['left']} left"
                )
                if found is ours:
                    lost.append(problem)
                else:
                    report.notes.append(problem)  # the baseline's losses do not decide chatwright's bar
            if found["restarted_after_due"]:
                report.notes.append(f"{name}: the restart came after T; its lateness includes the restart")
    report.bars.append(Bar.no_problems("none lost across the restart", lost, "all found, all due fired once"))
    report.notes.append(
        "jobs added one after another (awaiting each, as a handler calling ctx.schedule.at would); lateness ="
        " time the handler (chatwright) or the job function (APScheduler) ran - planned time"
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=["schedule", "fire"])
    parser.add_argument("--variant", choices=["ours", "baseline"], required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--due", type=int, required=True)
    parser.add_argument("--due-at", type=float, default=0.0)
    parser.add_argument("--budget", type=float, default=4.0, help="seconds left for the restart before T")
    args = parser.parse_args()
    db = Path(args.db)
    if args.phase == "schedule":
        add = _ours_schedule if args.variant == "ours" else _baseline_schedule
        work = add(db, args.jobs, args.due, args.budget)
    else:
        fire = _ours_fire if args.variant == "ours" else _baseline_fire
        work = fire(db, args.jobs, args.due, args.due_at)
    emit_result(run_on_loop("asyncio", work))


if __name__ == "__main__":
    main()
