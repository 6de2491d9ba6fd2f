"""Run every benchmark against its baseline, alternating the two round by round, and print a table of ratios.

    .venv/bin/python -m tests.benchmarks.run             # the full run, with opsdroid beside (about 30 minutes)
    .venv/bin/python -m tests.benchmarks.run --quick     # shorter windows, smaller sizes, no peers
    .venv/bin/python -m tests.benchmarks.run --only ingest,dispatch --seconds 3 --rounds 3
    .venv/bin/python -m tests.benchmarks.run --only ingest,e2e --peers opsdroid,errbot   # bot frameworks side by side

Ratios are ours / baseline per round (each round runs the two back to back), summarised as the median with
the min-max and the interquartile range over rounds. `--json FILE` keeps every number; `--markdown FILE`
writes the tables docs/PERFORMANCE.md quotes. Set BENCH_VERBOSE=1 to see the children's logs.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from tests.benchmarks import (
    bench_conversations,
    bench_dispatch,
    bench_e2e,
    bench_fanout,
    bench_fanout_replicas,
    bench_footprint,
    bench_ingest,
    bench_processes,
    bench_redis_ceiling,
    bench_replicas_io,
    bench_scaling,
    bench_schedules,
)
from tests.benchmarks.harness import (
    LOOPS,
    Cores,
    Report,
    Series,
    Settings,
    StealMeter,
    cores,
    loop_for,
    loop_pairs,
    machine,
)
from tests.benchmarks.peers import PEERS

__all__ = ["BENCHMARKS", "format_bars", "format_report", "main", "measuring_command", "run_all"]

BENCHMARKS: dict[str, Callable[[Settings, Cores], Report]] = {
    "ingest": bench_ingest.run,
    "e2e": bench_e2e.run,
    "dispatch": bench_dispatch.run,
    "fanout": bench_fanout.run,
    "fanout_replicas": bench_fanout_replicas.run,
    "replicas_io": bench_replicas_io.run,
    "redis_ceiling": bench_redis_ceiling.run,
    "schedules": bench_schedules.run,
    "footprint": bench_footprint.run,
    "conversations": bench_conversations.run,
    "processes": bench_processes.run,
    "scaling": bench_scaling.run,
}


def _number(value: float) -> str:
    if math.isnan(value):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cells(series: Series) -> list[str]:
    ours = Series.summary(series.ours)
    base = Series.summary(series.baseline or [])
    ratios = Series.summary(series.ratios)
    unit = f" {series.unit}" if series.unit else ""
    row = [
        series.label,
        f"{_number(ours['median'])}{unit}"
        + (f" ({_number(ours['min'])}-{_number(ours['max'])})" if len(series.ours) > 1 else ""),
        f"{_number(base['median'])}{unit}" if base else "",
    ]
    if ratios:
        row += [
            f"{ratios['median']:.3f}",
            f"{ratios['min']:.3f}-{ratios['max']:.3f}",
            f"{ratios['q1']:.3f}-{ratios['q3']:.3f}",
        ]
    else:
        row += ["", "", ""]
    row.append(str(len(series.ours)))
    return row


HEADER = [
    "figure",
    "ours: median (min-max)",
    "baseline: median",
    "ratio",
    "ratio min-max",
    "ratio IQR",
    "rounds",
]


def format_report(report: Report, *, markdown: bool = False) -> str:
    rows = [_cells(series) for series in report.series]
    lines = [f"### {report.title}" if markdown else report.title]
    if markdown:
        lines.append("")
        lines.append("| " + " | ".join(HEADER) + " |")
        lines.append("|" + "|".join("---" for _ in HEADER) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
        lines += [
            f"- **{'met' if bar.met else 'NOT MET'}**: {bar.description}: {bar.value}" for bar in report.bars
        ]
        lines += [f"- {note}" for note in report.notes]
    else:
        widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
        for row in [HEADER, *rows]:
            lines.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        lines += [
            f"  [{'met' if bar.met else 'NOT MET'}] {bar.description}: {bar.value}" for bar in report.bars
        ]
        lines += [f"  note: {note}" for note in report.notes]
    return "\n".join(lines)


def format_bars(reports: Sequence[Report]) -> str:
    """One line per bar of every benchmark: the summary printed last."""
    rows = [("benchmark", "bar", "measured", "met")]
    rows += [
        (report.title.split(" (")[0], bar.description, bar.value, "yes" if bar.met else "NO")
        for report in reports
        for bar in report.bars
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["summary of the bars"]
    lines += [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows
    ]
    return "\n".join(lines)


def run_all(names: Sequence[str], settings: Settings, *, echo: bool = True) -> list[Report]:
    """Run the named benchmarks in order; each report is printed as soon as it is done."""
    placement = cores()
    reports = []
    for name in names:
        started = time.monotonic()
        if echo:
            print(f"... {name}", file=sys.stderr, flush=True)
        steal = StealMeter()
        report = BENCHMARKS[name](settings, placement)
        report.notes.append(
            f"took {time.monotonic() - started:.0f} s; the hypervisor gave other guests {steal.share():.1%} of the"
            " machine's CPU time meanwhile (/proc/stat's steal: timed figures lose it, CPU times do not)"
        )
        reports.append(report)
        if echo:
            print(format_report(report) + "\n", flush=True)
    return reports


OUTPUT_OPTIONS = ("--json", "--markdown")
"""Where a run writes its numbers: not part of what it measured, so left out of the command it records."""


def measuring_command(argv: Sequence[str]) -> str:
    """The command that repeats a run's measurements, as its report, JSON, markdown and plots name it."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in OUTPUT_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{option}=" for option in OUTPUT_OPTIONS)):
            kept.append(arg)
    return " ".join(["python -m tests.benchmarks.run", *map(shlex.quote, kept)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.run", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--quick", action="store_true", help="short windows and small sizes (about 2 minutes)"
    )
    parser.add_argument("--seconds", type=float, help="seconds per measured window")
    parser.add_argument("--rounds", type=int, help="A/B rounds per benchmark")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument(
        "--loops",
        choices=LOOPS,
        help="both (default): the ingest and end-to-end pairs on asyncio's loop and again on uvloop, the other"
        " benchmarks on the loop `chatwright run` picks; uvloop or asyncio: everything on that loop. Both sides"
        " of a ratio always run on the same loop",
    )
    parser.add_argument("--uvloop", action="store_true", help="the same as --loops uvloop")
    parser.add_argument(
        "--peers",
        help=f"comma-separated bot frameworks to measure beside chatwright in the ingest and e2e benchmarks,"
        f" each in its own virtual environment under .venv-peers/ (installed on first use): {', '.join(PEERS)};"
        " default opsdroid (none with --quick); `none` for none",
    )
    parser.add_argument(
        "--processes-store",
        help="the processes benchmark's store: sqlite (default, a fresh file) or a redis:// URL (a fresh prefix)",
    )
    parser.add_argument("--json", type=Path, help="write every number to this file")
    parser.add_argument("--markdown", type=Path, help="write the tables as markdown to this file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a bar is not met")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.only.split(",")] if args.only else list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    peers = (
        tuple(name.strip() for name in args.peers.split(",") if name.strip() not in ("", "none"))
        if args.peers is not None
        else None
    )
    if unknown_peers := [name for name in peers or () if name not in PEERS]:
        parser.error(f"unknown peer(s) {', '.join(unknown_peers)}; choose from {', '.join(PEERS)}")
    settings = Settings.quick() if args.quick else Settings()
    changes: dict[str, Any] = {
        key: value
        for key, value in (
            ("seconds", args.seconds),
            ("rounds", args.rounds),
            ("loops", "uvloop" if args.uvloop else args.loops),
            ("peers", peers),
            ("processes_store", args.processes_store),
        )
        if value is not None
    }
    settings = attrs.evolve(settings, **changes)
    if args.rounds is not None:
        settings = attrs.evolve(settings, schedule_rounds=args.rounds)
    where = cores()
    info = machine()
    command = measuring_command(argv if argv is not None else sys.argv[1:])
    print(f"command: {command.strip()}")
    print(f"machine: {info['nproc']} cores, {info['cpu']}, Python {info['python']}, {info['platform']}")
    print(
        f"placement: server core {sorted(where.server or [])}, load core {sorted(where.load or [])}"
        if where.pinned
        else "placement: one core, not pinned"
    )
    print(
        f"event loops: both sides of every ratio on the same loop; e2e on {', '.join(loop_pairs(settings))},"
        f" the others on {loop_for(settings)}; JSON: orjson on every side"
    )
    print(f"settings: {attrs.asdict(settings)}\n", flush=True)
    reports = run_all(names, settings)
    print("=" * 100)
    for report in reports:
        print(format_report(report) + "\n")
    print(format_bars(reports))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "command": command,
                    "machine": info,
                    "settings": attrs.asdict(settings),
                    "reports": [report.as_dict() for report in reports],
                },
                indent=2,
            )
        )
    if args.markdown:
        header = f"Command: `{command.strip()}`  \nMachine: {info['nproc']} cores, {info['cpu']}, Python {info['python']}\n\n"
        args.markdown.write_text(
            header + "\n\n".join(format_report(r, markdown=True) for r in reports) + "\n"
        )
    failed = [bar for report in reports for bar in report.bars if not bar.met]
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
