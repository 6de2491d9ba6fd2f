"""What every benchmark shares: settings, A/B result series and their statistics, child processes pinned to cores.

A benchmark runs its rounds as child processes (servers, load generators, emulators, in-process drivers), each
started fresh and pinned with `os.sched_setaffinity`: the system under test on the "server" core, the load
generator (and the provider emulator) on the "load" core. Children print one JSON line prefixed `RESULT ` (or
`READY ` for servers) on stdout; everything else they print goes to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs

from framework.event_loops import resolve_event_loop

__all__ = [
    "LOOPS",
    "ROOT",
    "SECRET",
    "Bar",
    "Child",
    "Cores",
    "Report",
    "Series",
    "Settings",
    "StealMeter",
    "abba",
    "cores",
    "cpu_seconds",
    "cpu_seconds_of",
    "emit_result",
    "loop_for",
    "loop_pairs",
    "machine",
    "machine_busy_seconds",
    "new_loop",
    "process_tree",
    "read_result",
    "run_on_loop",
    "running",
    "spawn",
    "steal_ticks",
    "stolen_seconds",
]

R = TypeVar("R")

ROOT = Path(__file__).resolve().parents[2]
"""The repository root: children run with it as their working directory, so `tests.benchmarks` imports."""

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"""The standard-webhooks secret of every benchmark route (and of the load generator that signs for it)."""


@attrs.frozen(kw_only=True)
class Settings:
    """How long and how big: `seconds` per measured window, `rounds` A/B pairs, and each benchmark's sizes."""

    seconds: float = 5.0
    rounds: int = 5
    warmup: float = 1.0
    connections: int = 64
    e2e_events: int = 0
    """Webhooks per end-to-end round; 0: as many as the baseline handles in `seconds`."""
    dispatch_events: int = 20_000
    fanout_chats: int = 1000
    fanout_rate: float = 200.0
    io_events: int = 800
    """Events per replica count in the I/O-bound scale-out benchmark (bench_replicas_io), one post each."""
    io_latency: float = 0.25
    """Seconds the emulator takes to answer each post there."""
    io_concurrency: int = 20
    """Handler slots per replica there: one replica does at most io_concurrency / io_latency posts a second."""
    ceiling_clients: int = 3
    """Client processes driving the Redis store in the Redis ceiling benchmark (bench_redis_ceiling)."""
    ceiling_tasks: int = 32
    """Concurrent calls in each of them."""
    ceiling_requests: int = 400_000
    """Calls of each script redis-benchmark sends there."""
    schedule_jobs: int = 10_000
    schedule_due: int = 1000
    schedule_rounds: int = 3
    restart_budget: float = 4.0
    """Seconds between the end of adding schedule jobs and their due time, for the restart in between."""
    footprint_events: int = 100_000
    processes_store: str = "sqlite"
    """The store of the processes benchmark: "sqlite" (a fresh file) or a redis:// URL (a fresh key prefix)."""
    scaling_connections: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    scaling_depths: tuple[int, ...] = (0, 1000, 10_000, 100_000, 1_000_000)
    """Events waiting in the inbox while the depth curve is measured (filling 1M takes a few minutes here)."""
    conversation_chats: int = 1000
    """Chats the conversations benchmark watches."""
    conversation_messages: int = 60
    """Messages written per latency round of the conversations benchmark."""
    idle_seconds: float = 2.0
    """How long the service sits idle before its idle RSS is read."""
    loops: str = "both"
    """Event loops. Both sides of every ratio run on the same loop: "both" measures the end-to-end pairs once on
    asyncio's loop and once on uvloop, and the other benchmarks on the loop `chatwright run` picks (uvloop where
    installed); "asyncio" or "uvloop" runs everything on that one loop."""
    peers: tuple[str, ...] = ("opsdroid",)
    """Other bot frameworks to measure beside the two (tests.benchmarks.peers), each against the same baseline."""

    @classmethod
    def quick(cls, **changes: Any) -> Settings:
        """A run of about a minute: short windows, three rounds, smaller sizes."""
        values: dict[str, Any] = {
            "seconds": 2.0,
            "rounds": 3,
            "warmup": 0.5,
            "dispatch_events": 5000,
            "fanout_chats": 400,
            "io_events": 600,
            "schedule_jobs": 2000,
            "schedule_due": 200,
            "schedule_rounds": 1,
            "footprint_events": 20_000,
            "scaling_connections": (1, 4, 16, 64, 256),
            "scaling_depths": (0, 10_000, 100_000),
            "peers": (),
            "conversation_chats": 400,
            "conversation_messages": 30,
        }
        return cls(**{**values, **changes})

    @classmethod
    def smoke(cls) -> Settings:
        """Tiny sizes, one round: enough to show that each benchmark still runs (tests/benchmarks/test_smoke)."""
        return cls(
            seconds=0.4,
            rounds=1,
            warmup=0.1,
            connections=8,
            e2e_events=150,
            dispatch_events=300,
            fanout_chats=40,
            fanout_rate=200.0,
            io_events=24,
            io_latency=0.05,
            schedule_jobs=120,
            schedule_due=30,
            schedule_rounds=1,
            restart_budget=1.2,
            footprint_events=600,
            conversation_chats=40,
            conversation_messages=10,
            idle_seconds=0.3,
            scaling_connections=(1, 8),
            scaling_depths=(0, 200),
            loops="uvloop",
            peers=(),
        )


# -- results -----------------------------------------------------------------------------------------------------


def _quartiles(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


@attrs.define
class Series:
    """One figure measured each round, for chatwright ("ours") and, when it has one, for the baseline."""

    label: str
    unit: str
    ours: list[float] = attrs.field(factory=list)
    baseline: list[float] | None = None
    higher_is_better: bool = True
    comparable: bool = True
    """Whether ours / baseline means anything: not for what the machine did to each side (time stolen from it)."""

    @property
    def ratios(self) -> list[float]:
        """ours / baseline per round (paired: the two ran back to back)."""
        if self.baseline is None or not self.comparable:
            return []
        return [o / b for o, b in zip(self.ours, self.baseline, strict=False) if b]

    @staticmethod
    def summary(values: Sequence[float]) -> dict[str, float]:
        if not values:
            return {}
        q1, q3 = _quartiles(values)
        return {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "q1": q1,
            "q3": q3,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "unit": self.unit,
            "ours": self.ours,
            "baseline": self.baseline,
            "ratios": self.ratios,
            "ours_summary": self.summary(self.ours),
            "baseline_summary": self.summary(self.baseline or []),
            "ratio_summary": self.summary(self.ratios),
        }


@attrs.frozen
class Bar:
    """A bar the issue sets, with the measured value and whether it is met."""

    description: str
    value: str
    met: bool

    @classmethod
    def no_problems(cls, description: str, problems: Sequence[str], clean: str) -> Bar:
        """A bar met when no problem was found: its value `clean` then, else the problems found."""
        return cls(description, "; ".join(problems) if problems else clean, not problems)


@attrs.define
class Report:
    """What one benchmark found: its series, the bars it was held to, checks and notes."""

    key: str
    title: str
    series: list[Series] = attrs.field(factory=list)
    bars: list[Bar] = attrs.field(factory=list)
    notes: list[str] = attrs.field(factory=list)
    points: dict[str, Any] = attrs.field(factory=dict)
    """Curves a benchmark measured (tests.benchmarks.bench_scaling): what tests.benchmarks.plot draws."""

    def add(self, series: Series) -> Series:
        self.series.append(series)
        return series

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "series": [series.as_dict() for series in self.series],
            "bars": [attrs.asdict(bar) for bar in self.bars],
            "notes": self.notes,
            "points": self.points,
        }


# -- the machine and its cores -----------------------------------------------------------------------------------


@attrs.frozen
class Cores:
    """Where the system under test runs, and where the load (and the provider emulator) runs."""

    server: frozenset[int] | None
    load: frozenset[int] | None

    @property
    def pinned(self) -> bool:
        return self.server is not None


def cores() -> Cores:
    """The first available core for the server, the last for the load; unpinned on a one-core machine."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(available) < 2:
        return Cores(None, None)
    return Cores(frozenset({available[0]}), frozenset({available[-1]}))


def machine() -> dict[str, str]:
    """nproc, CPU model and Python version, for the report."""
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    loop = "uvloop available" if _has_uvloop() else "asyncio only"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loops": loop,
    }


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


# -- child processes ---------------------------------------------------------------------------------------------


def emit_result(payload: dict[str, Any], prefix: str = "RESULT") -> None:
    """Print the one line a child reports to its parent."""
    sys.stdout.write(f"{prefix} {json.dumps(payload)}\n")
    sys.stdout.flush()


def read_result(output: str, prefix: str = "RESULT") -> dict[str, Any]:
    for line in reversed(output.splitlines()):
        if line.startswith(prefix + " "):
            found: dict[str, Any] = json.loads(line[len(prefix) + 1 :])
            return found
    raise RuntimeError(f"the child printed no {prefix} line; its output was:\n{output[-2000:]}")


@attrs.define
class Child:
    """A started child process: wait for its READY line, stop it, read its RESULT line."""

    process: subprocess.Popen[str]
    name: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def ready(self, timeout: float = 30.0) -> dict[str, Any]:
        """Block until the child prints `READY {...}`; returns the JSON."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            if line.startswith("READY "):
                found: dict[str, Any] = json.loads(line[6:])
                return found
        self.kill()
        raise RuntimeError(f"{self.name} did not become ready (exit code {self.process.poll()})")

    def result(self, timeout: float = 600.0) -> dict[str, Any]:
        """Wait for the child to exit and return its RESULT."""
        try:
            output, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"{self.name} did not finish within {timeout:.0f}s") from None
        if self.process.returncode != 0:
            raise RuntimeError(f"{self.name} failed with exit code {self.process.returncode}")
        return read_result(output)

    def stop(self, timeout: float = 20.0) -> dict[str, Any] | None:
        """SIGTERM, wait, and return the RESULT the child printed on its way out, if any."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            output, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        try:
            return read_result(output or "")
        except RuntimeError:
            return None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)


def spawn(
    module: str,
    *args: str,
    cpus: frozenset[int] | None,
    name: str | None = None,
    env: dict[str, str] | None = None,
    command: Sequence[str] | None = None,
) -> Child:
    """Start `python -m module args...` (or `command`) in the repository root, pinned to `cpus`."""
    argv = list(command) if command is not None else [sys.executable, "-m", module, *args]
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=None if os.environ.get("BENCH_VERBOSE") else subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    if cpus and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(process.pid, cpus)
    return Child(process, name or module)


def abba(index: int, ours: Callable[[], R], baseline: Callable[[], R]) -> tuple[R, R]:
    """Measure both sides of round `index`, the baseline first in every other round (ABBA order), so a drift of
    the machine's speed during the run weighs on both sides alike instead of always on the one measured second.
    Returns (ours, baseline)."""
    if index % 2:
        theirs = baseline()
        return ours(), theirs
    mine = ours()
    return mine, baseline()


@contextlib.contextmanager
def running(*children: Child) -> Iterator[None]:
    """Kill whatever is still running on the way out (a failed round must not leave servers behind)."""
    try:
        yield
    finally:
        for child in children:
            child.kill()


LOOPS = ("both", "uvloop", "asyncio")


def loop_for(settings: Settings, side: str = "ours") -> str:
    """ "uvloop" or "asyncio": the loop of a benchmark that measures one pair; the same for both sides."""
    del side  # both sides of a ratio run on the same loop
    if settings.loops != "both":
        return settings.loops
    return resolve_event_loop("auto")


def loop_pairs(settings: Settings) -> tuple[str, ...]:
    """The loops a benchmark that reports both pairs (ingest, end to end) measures each round, in order."""
    if settings.loops != "both":
        return (settings.loops,)
    return ("asyncio", "uvloop") if resolve_event_loop("auto") == "uvloop" else ("asyncio",)


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    """A new event loop of that name ("uvloop" or "asyncio")."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run_on_loop(name: str, work: Coroutine[Any, Any, R]) -> R:
    """Run `work` to its end on a new event loop of that name, then close the loop (a child's `main`)."""
    loop = new_loop(name)
    try:
        return loop.run_until_complete(work)
    finally:
        loop.close()


def cpu_seconds() -> float:
    """CPU time (user + system) this process used so far."""
    times = os.times()
    return times.user + times.system


def machine_busy_seconds() -> float:
    """CPU time every core of the machine spent on user, nice, system, irq and softirq work so far (/proc/stat;
    0 without it): less the benchmark's own processes over a window, what other work took from it."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    return sum(int(fields[index]) for index in (0, 1, 2, 5, 6)) / os.sysconf("SC_CLK_TCK")


STEAL_FIELD = 8
"""/proc/stat's `steal` column (after the line's name: user, nice, system, idle, iowait, irq, softirq, steal)."""


def steal_ticks(stat: str, cores: frozenset[int] | None = None) -> int:
    """Clock ticks of `steal` in the text of /proc/stat, summed over `cores` (the machine's total line: None)."""
    names = {"cpu"} if cores is None else {f"cpu{core}" for core in cores}
    ticks = 0
    for line in stat.splitlines():
        fields = line.split()
        if fields and fields[0] in names and len(fields) > STEAL_FIELD:
            ticks += int(fields[STEAL_FIELD])
    return ticks


def stolen_seconds(cores: frozenset[int] | None = None) -> float:
    """Time the hypervisor ran other guests while `cores` (every core: None) had work of this VM to run, so far
    (0 without /proc/stat). Over a window, what a timed figure lost to the host's other VMs: CPU time of the
    processes does not count it, their wall-clock rates do."""
    try:
        stat = Path("/proc/stat").read_text()
    except OSError:
        return 0.0
    return steal_ticks(stat, cores) / os.sysconf("SC_CLK_TCK")


class StealMeter:
    """From when it is made: the share of `cores`' time (every core's: None) the hypervisor gave other guests."""

    def __init__(self, cores: frozenset[int] | None = None) -> None:
        self._cores = cores
        self._stolen = stolen_seconds(cores)
        self._started = time.monotonic()

    def share(self) -> float:
        cores = len(self._cores) if self._cores else os.cpu_count() or 1
        return (stolen_seconds(self._cores) - self._stolen) / ((time.monotonic() - self._started) * cores)


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants alive now (from /proc; [pid] where /proc has no `children` files)."""
    found = [pid]
    for current in found:
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                found += [int(child) for child in (task / "children").read_text().split()]
    return found


def cpu_seconds_of(pids: Sequence[int]) -> float:
    """CPU time (user + system, all threads) the processes `pids` used so far (0 for one gone or without /proc)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")
