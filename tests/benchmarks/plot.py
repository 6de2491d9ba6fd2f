"""Draw the scaling benchmark's curves from a run's JSON: `python -m tests.benchmarks.plot FILE.json [--out DIR]`.

Reads the `scaling` report that `python -m tests.benchmarks.run --only scaling --json FILE.json` wrote and
writes two PNGs (default into docs/): `scaling-concurrency.png`, effects/s and p99 webhook -> provider post
against the number of connections for chatwright and raw aiohttp, and `scaling-depth.png`, effects/s and the
p99 acknowledgement against the number of events waiting in the inbox.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tests.benchmarks.harness import ROOT

__all__ = ["main", "plot_concurrency", "plot_depth"]


def plot_concurrency(points: list[dict[str, Any]], out: Path, caption: str) -> Path:
    connections = [point["connections"] for point in points]
    figure, (rates, p99s) = plt.subplots(1, 2, figsize=(11, 4.2))
    for side, label, style in (("ours", "chatwright", "o-"), ("baseline", "raw aiohttp", "s--")):
        rates.plot(connections, [p[side]["rate"] for p in points], style, label=label)
        p99s.plot(connections, [p[side]["p99_ms"] for p in points], style, label=label)
    for axis, title, unit in ((rates, "effects/s", "provider posts per second"), (p99s, "p99", "ms")):
        axis.set_xscale("log", base=2)
        axis.set_xticks(connections, [str(c) for c in connections])
        _label(axis, "concurrent webhooks (connections)", unit, title)
    p99s.set_yscale("log")
    p99s.set_title("p99 webhook -> provider post")
    rates.set_ylim(bottom=0)
    return _save(figure, caption, out / "scaling-concurrency.png")


def plot_depth(points: list[dict[str, Any]], out: Path, caption: str) -> Path:
    depths = [max(point["depth"], 1) for point in points]
    figure, (rates, p99s) = plt.subplots(1, 2, figsize=(11, 4.2))
    rates.plot(depths, [p["effects_per_s"] for p in points], "o-", label="effects/s (backlog drained)")
    rates.plot(depths, [p["ack_per_s"] for p in points], "s--", label="webhooks acknowledged/s")
    p99s.plot(depths, [p["ack_p99_ms"] for p in points], "o-", label="p99 acknowledgement")
    for axis, title, unit in ((rates, "throughput", "per second"), (p99s, "p99 acknowledgement", "ms")):
        axis.set_xscale("log")
        axis.set_xticks(depths, [f"{p['depth']:,}" for p in points])
        _label(axis, "events waiting in the inbox", unit, title)
    rates.set_ylim(bottom=0)
    p99s.set_ylim(bottom=0)
    return _save(figure, caption, out / "scaling-depth.png")


def _label(axis: Axes, xlabel: str, unit: str, title: str) -> None:
    axis.set_xlabel(xlabel)
    axis.set_ylabel(unit)
    axis.set_title(title)
    axis.grid(True, alpha=0.3)
    axis.legend()


def _save(figure: Figure, caption: str, path: Path) -> Path:
    figure.suptitle(caption, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("results", type=Path, help="the JSON file of a run that included `scaling`")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="directory for the PNGs (docs/)")
    args = parser.parse_args(argv)
    run = json.loads(args.results.read_text())
    found = [report for report in run["reports"] if report["key"] == "scaling"]
    if not found:
        print(f"{args.results} holds no scaling report (run with --only scaling)", file=sys.stderr)
        return 2
    points = found[0]["points"]
    machine = run["machine"]
    caption = f"{run['command']}\n{machine['nproc']} cores, {machine['cpu']}, Python {machine['python']}"
    args.out.mkdir(parents=True, exist_ok=True)
    for path in (
        plot_concurrency(points["concurrency"], args.out, caption),
        plot_depth(points["depth"], args.out, caption),
    ):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
