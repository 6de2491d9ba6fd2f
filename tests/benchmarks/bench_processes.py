"""Benchmark 7, every core of one host: `chatwright run --processes 2` against `--processes 1`, end to end.

Each round starts the real command (`python -m framework.cli run bench.toml`, what the `chatwright` script
calls) on a fresh SQLite file (synchronous=FULL, steps on) with one standard-webhooks route whose handler makes
one `post_message` on the RoostedHR emulator, sends N webhooks over 64 connections and waits until the emulator
has stored N messages: effects/s = N / (last message stored - first webhook sent). With one process the service
runs on the server core, as in the other benchmarks; with two it may use both cores (the load generator and the
emulator keep the last one, which the second process then shares). Afterwards the emulator's record must hold
exactly N POSTs and N messages (nothing handled twice) and the inbox must be empty (nothing left behind).

Over the same window it reads the CPU time of the service's processes (/proc, every thread), of the load
generator and of the sink, per effect, and notes the ratio those costs allow on the machine's cores: one process
that keeps its core busy does 1e6/s1 effects/s, two processes sharing two cores with the load generator and the
sink at most 2e6/(s2 + h), so 2 s1/(s2 + h) is as far as any store can take the ratio without cutting CPU.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.benchmarks import loadgen, servers
from tests.benchmarks.emulator_client import Emulator
from tests.benchmarks.harness import (
    SECRET,
    Bar,
    Child,
    Cores,
    Report,
    Series,
    Settings,
    abba,
    cpu_seconds_of,
    loop_for,
    machine_busy_seconds,
    process_tree,
    running,
    spawn,
)
from tests.benchmarks.service_helpers import toml_document, toml_value, wait_ready

__all__ = ["RATIO_BAR", "config", "run"]

RATIO_BAR = 1.6
"""Effects/s of two processes against one, on a 2-core machine."""
PROCESSES = 2


def config(directory: Path, port: int, emulator: str, event_loop: str, store: str) -> Path:
    """The service's config: one route, the RoostedHR adapter on the emulator, the one-post plugin."""
    document: dict[str, Any] = {
        "service": {"host": "127.0.0.1", "port": port, "event_loop": event_loop},
        "store": {"url": store},
        "adapters": {
            "roosted": {
                "provider": "roostedhr",
                "base_url": emulator,
                "api_key": servers.API_KEY,
                "worker_id": servers.WORKER_ID,
            }
        },
        "plugins": {"modules": ["tests.benchmarks.post_plugins"], "entry_points": False},
    }
    route = {
        "path": servers.PATH,
        "event": "shift.published",
        "verify": {"scheme": "standard-webhooks", "secrets": [SECRET]},
    }
    path = directory / "bench.toml"
    path.write_text(
        toml_document(document)
        + "\n[[webhooks]]\n"
        + "\n".join(f"{key} = {toml_value(value)}" for key, value in route.items())
        + "\n"
    )
    return path


def _pending(database: Path) -> int:
    with sqlite3.connect(database) as db:
        (count,) = db.execute("SELECT count(*) FROM inbox").fetchone()
    return int(count)


def _serving_port(server: Child, timeout: float = 30.0) -> int:
    """The port of `chatwright run`'s "serving ... on http://host:port" line."""
    assert server.process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = server.process.stdout.readline()
        if not line:
            break
        found = re.search(r"serving .* on http://[^ ]+:(\d+)", line)
        if found:
            return int(found.group(1))
    server.kill()
    raise RuntimeError(f"{server.name} did not say where it serves (exit code {server.process.poll()})")


def _serving(server: Child, processes: int) -> list[int]:
    """The pids of the service's serving processes (with several, the copies its supervisor forked, which share
    its command line; the supervisor serves nothing). Fails unless all `processes` are there: a copy that failed
    to start would leave the others serving alone, and the round would measure one process as if it were two."""
    command = Path(f"/proc/{server.pid}/cmdline").read_bytes()
    pids = []
    for pid in process_tree(server.pid):
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if status != "Z" and Path(f"/proc/{pid}/cmdline").read_bytes() == command:
                pids.append(pid)
    if processes > 1:
        pids.remove(server.pid)
    if len(pids) != processes:
        raise RuntimeError(f"--processes {processes}: {len(pids)} of the service's processes are running")
    return pids


def _pending_redis(url: str, prefix: str) -> int:
    """Events left in a Redis store's inbox; the benchmark's keys are deleted."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        pending = int(client.scard(f"{{{prefix}}}:inbox"))
        keys = list(client.scan_iter(match=f"{{{prefix}}}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
    return pending


def measure(
    processes: int, events: int, emulator: Emulator, chat_id: str, settings: Settings, cores: Cores
) -> dict[str, Any]:
    """N webhooks through `chatwright run --processes P` on a fresh store; effects/s and the checks."""
    emulator.reset_counters()
    everywhere = None if cores.server is None else cores.server | (cores.load or frozenset())
    with tempfile.TemporaryDirectory(prefix="chatwright-bench-") as directory:
        prefix = f"bench{os.getpid()}_{os.urandom(4).hex()}"
        store = (
            f"{settings.processes_store}?prefix={prefix}"
            if settings.processes_store.startswith("redis")
            else f"sqlite:///{Path(directory) / 'bench.db'}"
        )
        # Port 0: the first process binds a free port and says which (a port probed free beforehand may be
        # taken by then, and SO_REUSEPORT would even share it with another such listener).
        path = config(Path(directory), 0, emulator.url, loop_for(settings), store)
        command = ["-m", "framework.cli", "run", str(path), "--processes", str(processes)]
        server = spawn(
            "framework.cli",
            cpus=cores.server if processes == 1 else everywhere,
            name=f"chatwright run --processes {processes}",
            command=[sys.executable, *command],
        )
        with running(server):
            port = _serving_port(server)
            wait_ready(server, f"http://127.0.0.1:{port}/readyz")
            service = _serving(server, processes)
            each_before = [cpu_seconds_of([pid]) for pid in service]
            cpu_before = sum(each_before), cpu_seconds_of([emulator.child.pid])
            machine_before = machine_busy_seconds()
            sent = loadgen.drive(
                port,
                settings.connections,
                cores.load,
                *("--count", str(events), "--chat-id", chat_id, "--path", servers.PATH),
            )
            done = emulator.wait_for_messages(events, timeout=60 + events / 100)
            each = [cpu_seconds_of([pid]) - before for pid, before in zip(service, each_before, strict=True)]
            service_cpu = sum(each)
            sink_cpu = cpu_seconds_of([emulator.child.pid]) - cpu_before[1]
            machine = machine_busy_seconds() - machine_before
            if len(_serving(server, processes)) != processes:
                raise RuntimeError(
                    f"--processes {processes}: a process of the service exited during the round"
                )
            server.stop(timeout=30)
        delivery = emulator.call("GET", "/_emulator/bench-delivery")
        pending = (
            _pending(Path(directory) / "bench.db")
            if store.startswith("sqlite")
            else _pending_redis(settings.processes_store, prefix)
        )
    if sent["statuses"].get("202", 0) != events:
        raise RuntimeError(f"--processes {processes}: not every webhook was answered 202: {sent['statuses']}")
    load_cpu = sent["cpu_share"] * (sent["finished"] - sent["started"])
    return {
        "rate": events / (done["last_at"] - sent["started"]),
        "cpu_us": service_cpu / events * 1e6,
        "harness_cpu_us": (load_cpu + sink_cpu) / events * 1e6,
        "busiest": max(each) / service_cpu if service_cpu else 1.0,
        "others": max(0.0, machine - service_cpu - load_cpu - sink_cpu) / (done["last_at"] - sent["started"]),
        "posts": sum(delivery["posts"].values()),
        "messages": sum(delivery["messages"].values()),
        "pending": pending,
    }


def _ceiling(cpu: Series, harness: Series) -> float:
    """The ratio of effects/s the measured CPU costs allow on this machine's cores (see the report's note)."""
    assert cpu.baseline is not None
    one = Series.summary(cpu.baseline)["median"]
    many = Series.summary(cpu.ours)["median"]
    load = Series.summary(harness.ours)["median"]
    cores = min(PROCESSES, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else PROCESSES)
    return cores * one / (many + load)


def run(settings: Settings, cores: Cores) -> Report:
    report = Report(
        "processes", f"7. Every core: `chatwright run --processes {PROCESSES}` against one process"
    )
    rate = report.add(Series(f"effects/s, {PROCESSES} processes vs 1", "1/s", baseline=[]))
    cpu = report.add(
        Series(
            f"service CPU per effect, {PROCESSES} processes vs 1", "us", baseline=[], higher_is_better=False
        )
    )
    harness = report.add(
        Series("load generator + sink CPU per effect, with 2 vs 1", "us", baseline=[], higher_is_better=False)
    )
    emulator = Emulator(cores.load, sink=True)
    twice = 0
    left = 0
    busiest: list[float] = []
    others: list[float] = []
    try:
        (chat_id,) = emulator.chats(1)
        events = settings.e2e_events or max(2000, int(1500 * settings.seconds))

        def side(processes: int) -> Callable[[], dict[str, Any]]:
            return functools.partial(measure, processes, events, emulator, chat_id, settings, cores)

        side(1)()  # warm-up: the page cache, the interpreter's files
        for index in range(settings.rounds):
            many, one = abba(index, side(PROCESSES), side(1))
            for series, key in ((rate, "rate"), (cpu, "cpu_us"), (harness, "harness_cpu_us")):
                assert series.baseline is not None
                series.ours.append(many[key])
                series.baseline.append(one[key])
            busiest.append(many["busiest"])
            others += [many["others"], one["others"]]
            twice += max(0, many["posts"] - events) + max(0, one["posts"] - events)
            left += many["pending"] + one["pending"]
    finally:
        emulator.stop()
    ratio = Series.summary(rate.ratios)["median"]
    ceiling = _ceiling(cpu, harness)
    busy = Series.summary([r * c / 1e6 for r, c in zip(rate.baseline or [], cpu.baseline or [], strict=True)])
    report.bars.append(
        Bar(f"{PROCESSES} processes >= {RATIO_BAR}x the effects/s of one", f"{ratio:.2f}", ratio >= RATIO_BAR)
    )
    report.bars.append(
        Bar(
            "nothing handled twice, nothing left in the inbox",
            f"{twice} extra POSTs, {left} left",
            not twice and not left,
        )
    )
    report.notes.append(
        f"what the CPU costs allow: {ceiling:.2f}x. One process is held to its core (at most 1e6/s1 effects/s);"
        f" {PROCESSES} processes share {PROCESSES} cores with the load generator and the sink, at most"
        f" {PROCESSES}e6/(s2 + h) effects/s (s1, s2: service CPU us per effect with 1 and {PROCESSES} processes,"
        f" h: load generator + sink CPU us per effect, medians), so the ratio is at most {PROCESSES} s1/(s2 + h)"
        f" when one process keeps its core busy; it kept it {busy['median']:.0%} busy. The busiest of the"
        f" {PROCESSES} processes did {statistics.median(busiest):.0%} of their CPU work (median; the kernel spreads"
        " connections, not webhooks, over them)"
    )
    report.notes.append(
        f"other work on the machine kept {statistics.median(others):.2f} cores busy during the rounds (median;"
        f" max {max(others):.2f}): it takes from {PROCESSES} processes whatever core it runs on, from one process"
        " only what it takes from the server core, so any of it lowers the ratio"
    )
    report.notes.append(
        f"{events} webhooks per round over {settings.connections} connections;"
        f" store {'one SQLite file (fsynced before each 202)' if settings.processes_store == 'sqlite' else settings.processes_store},"
        f" steps on, loop {loop_for(settings)}; one process on the server core, {PROCESSES} on every core (the"
        " load generator and the emulator on the last one)"
    )
    return report
