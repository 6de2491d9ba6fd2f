"""Benchmark 8, scaling with work: effects/s and p99 against concurrency, and against the depth of the inbox.

Concurrency: for each number of connections C (1..256), chatwright's service (worker running, steps on,
SQLite synchronous=FULL, the shipped loop) and the raw aiohttp baseline (the same loop) each get N webhooks over
C connections whose handler posts one message; effects/s = N / (last post - first webhook), p99 = the 99th
percentile of webhook send -> provider post. Depth: before the service starts, D events of the same kind are
written to its inbox (through the store's own append), then the load generator keeps 64 webhooks in flight
for the measured window while the worker drains the backlog: effects/s = posts during the window / its length,
p99 = the webhooks' acknowledgement (what a sender waits for while the inbox is deep). The provider is the sink
(tests.benchmarks.sink), so the curves show chatwright's own shape, not the emulator's. One run per point.

    .venv/bin/python -m tests.benchmarks.run --only scaling --json scaling.json
    .venv/bin/python -m tests.benchmarks.plot scaling.json        # docs/scaling-concurrency.png, docs/scaling-depth.png
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.benchmarks import loadgen, servers
from tests.benchmarks.bench_e2e import measure
from tests.benchmarks.emulator_client import Emulator
from tests.benchmarks.harness import (
    Cores,
    Report,
    Series,
    Settings,
    emit_result,
    loop_for,
    run_on_loop,
    running,
    spawn,
)

__all__ = ["prefill", "run"]

PREFILL_BATCH = 2000
"""Appends in flight at once while the inbox is filled (the store commits them in groups)."""


async def prefill(db: Path, count: int, chat_id: str) -> float:
    """Append `count` webhook-like events to the inbox of the SQLite file `db`; seconds it took."""
    from framework.events import new_event
    from framework.store.sqlite import SQLiteStore

    store = SQLiteStore(f"sqlite:///{db}")
    await store.open()
    started = time.monotonic()
    try:
        for start in range(0, count, PREFILL_BATCH):
            await asyncio.gather(
                *(
                    store.append(
                        new_event(
                            "shift.published",
                            {"type": "shift.published", "data": {"id": f"backlog-{i}", "chat_id": chat_id}},
                            id=f"backlog-{i}",
                            source="webhook:/hooks/bench",
                        )
                    )
                    for i in range(start, min(count, start + PREFILL_BATCH))
                )
            )
    finally:
        await store.close()
    return time.monotonic() - started


def _concurrency(report: Report, settings: Settings, cores: Cores, sink: Emulator, chat_id: str) -> None:
    loop = loop_for(settings)
    points: list[dict[str, Any]] = []
    rate_guess = 1000.0
    for connections in settings.scaling_connections:
        events = max(200, int(rate_guess * settings.seconds))
        point: dict[str, Any] = {"connections": connections, "events": events}
        for variant in ("ours", "baseline"):
            found = measure(
                variant, events, sink, chat_id, settings, cores, loop=loop, connections=connections
            )
            point[variant] = {key: found[key] for key in ("rate", "p50_ms", "p99_ms", "cpu_us")}
        rate_guess = max(point["ours"]["rate"], point["baseline"]["rate"])
        points.append(point)
        for key, unit in (("rate", "1/s"), ("p99_ms", "ms")):
            series = report.add(
                Series(
                    f"{connections} connections: {'effects/s' if key == 'rate' else 'p99'}", unit, baseline=[]
                )
            )
            series.ours.append(point["ours"][key])
            assert series.baseline is not None
            series.baseline.append(point["baseline"][key])
    report.points["concurrency"] = points


def _depth(report: Report, settings: Settings, cores: Cores, sink: Emulator, chat_id: str) -> None:
    loop = loop_for(settings)
    points: list[dict[str, Any]] = []
    for depth in settings.scaling_depths:
        sink.reset_counters()
        with tempfile.TemporaryDirectory(prefix="chatwright-bench-") as directory:
            filled = 0.0
            if depth:
                filler = spawn(
                    "tests.benchmarks.bench_scaling",
                    *("prefill", str(Path(directory) / "bench.db"), str(depth), chat_id),
                    cpus=cores.server,
                    name="prefill",
                )
                with running(filler):
                    filled = float(filler.result(timeout=3600)["seconds"])
            server, port = servers.start(
                "ours", cores.server, db=Path(directory), emulator=sink.url, loop=loop
            )
            with running(server):
                before = sink.stats()["messages"]
                sent = loadgen.drive(
                    port,
                    settings.connections,
                    cores.load,
                    *("--seconds", str(settings.seconds), "--warmup", "0", "--chat-id", chat_id),
                    *("--path", servers.PATH),
                )
                after = sink.stats()["messages"]
                server.stop()
        point = {
            "depth": depth,
            "fill_seconds": filled,
            "effects_per_s": (after - before) / settings.seconds,
            "ack_per_s": sent["rate"],
            "ack_p99_ms": sent["p99_ms"],
        }
        points.append(point)
        for label, key, unit in (
            ("effects/s", "effects_per_s", "1/s"),
            ("acks/s", "ack_per_s", "1/s"),
            ("p99 ack", "ack_p99_ms", "ms"),
        ):
            report.add(Series(f"{depth:,} waiting: {label}", unit, ours=[point[key]]))
    report.points["depth"] = points


def run(settings: Settings, cores: Cores) -> Report:
    report = Report("scaling", "8. Scaling with work (concurrency 1..256, inbox depth)")
    sink = Emulator(cores.load, sink=True)
    try:
        (chat_id,) = sink.chats(1)
        _concurrency(report, settings, cores, sink, chat_id)
        _depth(report, settings, cores, sink, chat_id)
    finally:
        sink.stop()
    fills = ", ".join(f"{p['fill_seconds']:.0f} s" for p in report.points["depth"] if p["depth"])
    report.notes.append(
        f"both sides on {loop_for(settings)}; the provider is the sink; one run per point; depth: events of the"
        f" same kind waiting before the start, {settings.connections} connections for {settings.seconds:g} s;"
        f" filling took {fills}"
    )
    report.notes.append("plot: .venv/bin/python -m tests.benchmarks.plot FILE.json (the run's --json)")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description="fill an inbox (the depth curve's set-up)")
    parser.add_argument("command", choices=["prefill"])
    parser.add_argument("db", type=Path)
    parser.add_argument("count", type=int)
    parser.add_argument("chat_id")
    args = parser.parse_args()
    emit_result({"seconds": run_on_loop("uvloop", prefill(args.db, args.count, args.chat_id))})


if __name__ == "__main__":
    main()
