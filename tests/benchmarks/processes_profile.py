"""Where benchmark 7's capacity goes: CPU per effect of every party, syscalls per effect, and the machine's load.

`python -m tests.benchmarks.processes_profile --rounds 4` runs benchmark 7's job (tests.benchmarks.bench_processes:
`chatwright run --processes P` on a fresh SQLite file, the sink as the provider, N webhooks over 64 connections)
for P = 1 and 2 in every round, and prints one JSON line per run with figures that depend little on how loaded
the machine is:

- `service_us`, `load_us`, `sink_us`: CPU us per effect of the service (every process, every thread), the load
  generator and the sink, from the first webhook sent to the last message stored;
- `service_cores`: how many cores the service kept busy over that window (1.0: one process saturates its core);
- `ceiling`: for a 2-process run, 2 s1/(s2 + h), the ratio of effects/s those CPU costs allow on 2 cores
  against the 1-process run of the same round (see bench_processes);
- `<syscall>/effect`: counts of the service's fdatasync, flock, pread64, futex and all syscalls, and its context
  switches (`perf stat -p`, when perf is installed and allowed);
- `others_cores`: cores kept busy by processes that are not part of the run (other work on the machine); the
  medians at the end leave out runs where that was above `--quiet-below`.

`--variant NAME=VALUE[,NAME=VALUE]` (repeatable) runs the service with those environment variables, interleaved
with the other variants in every round; `CONNECTIONS=32` in a variant changes the load generator's connections.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.benchmarks import loadgen, servers
from tests.benchmarks.bench_processes import _serving_port, config
from tests.benchmarks.emulator_client import Emulator
from tests.benchmarks.harness import (
    Cores,
    cores,
    cpu_seconds_of,
    machine_busy_seconds,
    process_tree,
    running,
    spawn,
)
from tests.benchmarks.service_helpers import wait_ready

__all__ = ["main"]

EVENTS = (
    "syscalls:sys_enter_fdatasync",
    "syscalls:sys_enter_flock",
    "syscalls:sys_enter_pread64",
    "syscalls:sys_enter_futex",
    "raw_syscalls:sys_enter",
    "context-switches",
)


class _Perf:
    """`perf stat -p` over the service's processes, when perf is there (counts per event name)."""

    def __init__(self, pids: list[int]) -> None:
        self.output = tempfile.mktemp(prefix="perf-", suffix=".csv")
        self.process: subprocess.Popen[bytes] | None = None
        if shutil.which("perf"):
            command = ["perf", "stat", "-p", ",".join(map(str, pids)), "-x", ",", "-o", self.output]
            self.process = subprocess.Popen(
                [*command, "-e", ",".join(EVENTS)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            time.sleep(0.3)

    def stop(self) -> dict[str, int]:
        if self.process is None:
            return {}
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=10)
        counts: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in Path(self.output).read_text().splitlines():
                parts = line.split(",")
                if len(parts) > 2 and parts[0].isdigit():
                    name = parts[2].split(":")[-1]
                    counts["syscalls" if name == "sys_enter" else name.removeprefix("sys_enter_")] = int(
                        parts[0]
                    )
            os.unlink(self.output)
        return counts


def measure(
    processes: int, events: int, emulator: Emulator, chat_id: str, placement: Cores, env: dict[str, str]
) -> dict[str, Any]:
    env = dict(env)
    connections = int(env.pop("CONNECTIONS", "64"))
    emulator.reset_counters()
    everywhere = None if placement.server is None else placement.server | (placement.load or frozenset())
    with tempfile.TemporaryDirectory(prefix="chatwright-profile-") as directory:
        path = config(Path(directory), 0, emulator.url, "uvloop", f"sqlite:///{Path(directory) / 'bench.db'}")
        server = spawn(
            "framework.cli",
            cpus=placement.server if processes == 1 else everywhere,
            name=f"chatwright run --processes {processes}",
            command=[sys.executable, "-m", "framework.cli", "run", str(path), "--processes", str(processes)],
            env=env,
        )
        with running(server):
            port = _serving_port(server)
            wait_ready(server, f"http://127.0.0.1:{port}/readyz")
            service = process_tree(server.pid)
            perf = _Perf(service)
            service_before = cpu_seconds_of(service)
            sink_before = cpu_seconds_of([emulator.child.pid])
            machine_before = machine_busy_seconds()
            sent = loadgen.drive(
                port,
                connections,
                placement.load,
                *("--count", str(events), "--chat-id", chat_id, "--path", servers.PATH),
            )
            done = emulator.wait_for_messages(events, timeout=60 + events / 100)
            service_cpu = cpu_seconds_of(service) - service_before
            sink_cpu = cpu_seconds_of([emulator.child.pid]) - sink_before
            machine = machine_busy_seconds() - machine_before
            counts = perf.stop()
            server.stop(timeout=30)
        delivery = emulator.call("GET", "/_emulator/bench-delivery")
    # The load generator's own figure covers its run; the others are read from just before it started, and
    # the window its start-up adds is short next to a round's.
    window = done["last_at"] - sent["started"]
    load_cpu = sent["cpu_share"] * (sent["finished"] - sent["started"])
    per = 1e6 / events
    return {
        "processes": processes,
        "rate": events / window,
        "service_us": service_cpu * per,
        "load_us": load_cpu * per,
        "sink_us": sink_cpu * per,
        "service_cores": service_cpu / window,
        "others_cores": max(0.0, machine - service_cpu - load_cpu - sink_cpu) / window,
        **{f"{name}/effect": count / events for name, count in counts.items()},
        "twice": sum(delivery["posts"].values()) - events,
    }


def _median(rows: list[dict[str, Any]]) -> dict[str, float]:
    keys = [key for key, value in rows[0].items() if isinstance(value, int | float) and key != "round"]
    return {key: round(statistics.median(row[key] for row in rows), 3) for key in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--placement", choices=("bench", "shared"), default="bench")
    parser.add_argument("--variant", action="append", default=[], help="NAME=VALUE[,NAME=VALUE...]")
    parser.add_argument("--quiet-below", type=float, default=0.25)
    args = parser.parse_args()
    placement = cores()
    if args.placement == "shared" and placement.server is not None:
        both = placement.server | (placement.load or frozenset())
        placement = Cores(both, both)
    variants = {
        text: dict(item.split("=", 1) for item in text.split(",") if item) for text in (args.variant or [""])
    }
    emulator = Emulator(placement.load, sink=True)
    rows: list[dict[str, Any]] = []
    try:
        (chat_id,) = emulator.chats(1)
        measure(1, 1000, emulator, chat_id, placement, {})  # warm-up: the page cache, the interpreter's files
        for index in range(args.rounds):
            for name, env in variants.items():
                pair = {}
                for processes in (1, 2) if index % 2 == 0 else (2, 1):
                    pair[processes] = measure(processes, args.events, emulator, chat_id, placement, env)
                one, two = pair[1], pair[2]
                two["ceiling"] = 2 * one["service_us"] / (two["service_us"] + two["load_us"] + two["sink_us"])
                two["ratio"] = two["rate"] / one["rate"]
                for row in (one, two):
                    row["variant"], row["round"] = name or "as is", index
                    rows.append(row)
                    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}))
    finally:
        emulator.stop()
    print(f"medians over the runs with others_cores < {args.quiet_below}:")
    for name in variants:
        for processes in (1, 2):
            mine = [
                row
                for row in rows
                if row["variant"] == (name or "as is")
                and row["processes"] == processes
                and row["others_cores"] < args.quiet_below
            ]
            if mine:
                print(
                    f"{name or 'as is'}, {processes} process(es), {len(mine)} runs:",
                    json.dumps(_median(mine)),
                )


if __name__ == "__main__":
    main()
