"""Instructions per webhook, counted by valgrind: the ingest and end-to-end servers, chatwright's and the baseline's.

    .venv/bin/python -m tests.benchmarks.instructions                 # both, 300 and 1,300 webhooks (5-10 minutes)
    .venv/bin/python -m tests.benchmarks.instructions --only ingest --small 500 --large 2000
    .venv/bin/python -m tests.benchmarks.instructions --only journal   # the step journal per provider call (1 minute)

Timed ratios on a shared VM drift with the machine; instruction counts do not (`valgrind --tool=callgrind`
counts the same for the same code and inputs, whatever else runs). Each server runs under callgrind twice, for
a small and a large number of webhooks sent by the load generator over 64 connections; the difference in
instructions over the difference in webhooks is its cost per webhook, with start-up, warm-up and shutdown
cancelled out. "implied ratio" is baseline / ours per webhook: the timed ratio if both sides ran their
instructions at the same speed. Not counted: the kernel's work (the fsyncs and page writes only chatwright does,
and the socket calls both do), and idle time. End to end also counts chatwright with steps off, for the step journal's cost per webhook.
The servers, the load generator and the emulator are those of
benchmarks 1 and 2, both sides on one loop (`--loop`; default the shipped one, uvloop). Needs valgrind on PATH.

`journal` counts the step journal alone, without a server: `tests.benchmarks.journal_calls` makes provider calls
as a handler's first delivery does, through the journal and straight to an adapter that answers at once, for
JOURNAL_SMALL and JOURNAL_LARGE calls; the difference per call is what the journal costs each provider call.

    .venv/bin/python -m tests.benchmarks.instructions --only e2e --connections 1 --small 100 --large 400
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import attrs

from tests.benchmarks import loadgen, servers
from tests.benchmarks.emulator_client import Emulator
from tests.benchmarks.harness import ROOT, Cores, Settings, cores, loop_for, running, spawn

__all__ = ["Count", "count", "count_journal", "instructions_in", "main", "per_webhook", "under_callgrind"]

NO_STEPS = "ours-nosteps"
GROUPED = "grouped"
"""The durable floor with many webhooks in flight (servers.py's `grouped`): end to end only."""
"""chatwright with steps off (its handler's provider call not journaled): end to end only, for the journal's cost."""

BENCHMARKS = ("ingest", "e2e", "journal")

JOURNAL_SMALL, JOURNAL_LARGE = 2_000, 12_000
"""Provider calls in the small and large runs of `journal` (it makes ~20,000 calls a second under callgrind)."""

VALGRIND_TIMEOUT = 900.0
"""Seconds a server under callgrind may take to start, or to finish its webhooks and stop (it runs ~50x slower)."""


@attrs.frozen
class Count:
    """Instructions one server executed from start to stop, and the webhooks it served."""

    webhooks: int
    instructions: int


def instructions_in(callgrind_output: str) -> int:
    """The total of a callgrind output file (its `summary:` or `totals:` line)."""
    found = re.search(r"^(?:summary|totals):\s+(\d+)", callgrind_output, re.MULTILINE)
    if found is None:
        raise ValueError("no summary line in the callgrind output")
    return int(found.group(1))


def per_webhook(small: Count, large: Count) -> float:
    """Instructions per webhook: the slope between two runs of the same server."""
    if large.webhooks <= small.webhooks:
        raise ValueError("the large run must serve more webhooks than the small one")
    return (large.instructions - small.instructions) / (large.webhooks - small.webhooks)


def under_callgrind(output: Path, module: str, *args: str) -> list[str]:
    """The command running `python -m module args...` under callgrind, its counts written to `output`."""
    return [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={output}",
        sys.executable,
        "-m",
        module,
        *args,
    ]


def count(
    benchmark: str, side: str, webhooks: int, place: Cores, settings: Settings, *, loop: str | None = None
) -> Count:
    """Run one server under callgrind for `webhooks` webhooks of `benchmark` ("ingest" or "e2e")."""
    with tempfile.TemporaryDirectory(prefix="chatwright-instructions-") as directory:
        output = Path(directory) / "callgrind.out"
        emulator = Emulator(place.load) if benchmark == "e2e" else None
        try:
            chat_ids = emulator.chats(1) if emulator is not None else ["bench-chat"]
            variant = side if side in ("baseline", GROUPED) else "ours"
            args = servers.arguments(
                variant,
                db=Path(directory) if variant != "baseline" else None,
                worker=benchmark == "e2e",
                emulator=emulator.url if emulator is not None else None,
                loop=loop or loop_for(settings),
                steps=side != NO_STEPS,
            )
            command = under_callgrind(output, "tests.benchmarks.servers", *args)
            server = spawn(
                "valgrind", cpus=place.server, name=f"{side} server under callgrind", command=command
            )
            with running(server):
                port = int(server.ready(timeout=VALGRIND_TIMEOUT)["port"])
                sent = loadgen.drive(
                    port,
                    settings.connections,
                    place.load,
                    *("--count", str(webhooks), "--chat-id", chat_ids[0], "--path", servers.PATH),
                )
                if sent["statuses"].get("202", 0) != webhooks:
                    raise RuntimeError(f"{side}: not every webhook was answered 202: {sent['statuses']}")
                if emulator is not None:
                    emulator.wait_for_messages(webhooks, timeout=VALGRIND_TIMEOUT)
                server.stop(timeout=VALGRIND_TIMEOUT)
        finally:
            if emulator is not None:
                emulator.stop()
        return Count(webhooks, instructions_in(output.read_text(errors="replace")))


def count_journal(steps: bool, calls: int) -> Count:
    """Run `journal_calls` under callgrind for `calls` provider calls, through the journal or not."""
    with tempfile.TemporaryDirectory(prefix="chatwright-instructions-") as directory:
        output = Path(directory) / "callgrind.out"
        command = under_callgrind(
            output,
            "tests.benchmarks.journal_calls",
            "--calls",
            str(calls),
            "--steps",
            "on" if steps else "off",
        )
        subprocess.run(
            command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True
        )
        return Count(calls, instructions_in(output.read_text(errors="replace")))


def _journal() -> None:
    costs = {
        side: per_webhook(count_journal(steps, JOURNAL_SMALL), count_journal(steps, JOURNAL_LARGE))
        for side, steps in (("steps on", True), ("steps off", False))
    }
    for side, cost in costs.items():
        print(f"{'journal':<8} {side:<9} {cost:>25,.0f}  (per provider call)", flush=True)
    print(
        f"{'journal':<8} the journal's cost per provider call: {costs['steps on'] - costs['steps off']:,.0f}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="ingest,e2e", help="comma-separated: ingest, e2e, journal")
    parser.add_argument("--small", type=int, default=300, help="webhooks in the small run")
    parser.add_argument("--large", type=int, default=1300, help="webhooks in the large run")
    parser.add_argument("--connections", type=int, default=64, help="connections of the load generator")
    parser.add_argument(
        "--loop", choices=["uvloop", "asyncio"], help="both sides' loop (default: the shipped one)"
    )
    parser.add_argument("--sides", help="comma-separated subset of: ours, ours-nosteps, baseline, grouped")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {', '.join(unknown)}; expected {', '.join(BENCHMARKS)}")
    if shutil.which("valgrind") is None:
        print("valgrind is not on PATH (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    settings, place = Settings(connections=args.connections), cores()
    wanted = args.sides.split(",") if args.sides else None
    print(f"{'benchmark':<8} {'side':<9} {'instructions per webhook':>25}")
    for benchmark in chosen:
        if benchmark == "journal":
            _journal()
            continue
        costs = {}
        for side in ("ours", NO_STEPS, "baseline", GROUPED) if benchmark == "e2e" else ("ours", "baseline"):
            if wanted is not None and side not in wanted:
                continue
            small = count(benchmark, side, args.small, place, settings, loop=args.loop)
            large = count(benchmark, side, args.large, place, settings, loop=args.loop)
            costs[side] = per_webhook(small, large)
            print(f"{benchmark:<8} {side:<9} {costs[side]:>25,.0f}", flush=True)
        if "baseline" in costs and "ours" in costs:
            print(
                f"{benchmark:<8} implied ratio (baseline / ours): {costs['baseline'] / costs['ours']:.3f}",
                flush=True,
            )
        if "baseline" in costs and GROUPED in costs:
            print(
                f"{benchmark:<8} implied ratio (baseline / grouped): {costs['baseline'] / costs[GROUPED]:.3f}",
                flush=True,
            )
        if NO_STEPS in costs and "ours" in costs:
            print(
                f"{benchmark:<8} implied ratio (steps off / steps on): {costs[NO_STEPS] / costs['ours']:.3f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
