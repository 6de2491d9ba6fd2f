"""Every benchmark runs for about a second at tiny sizes, so none of them can rot unnoticed.

Performance bars are not checked here (tiny sizes say nothing about them); what must hold at any size is: every
series has a number per round, and the correctness checks (exactly-once fan-out, no 429 reaching a handler,
no schedule lost across a restart, nothing handled twice by two service processes) pass.
"""

from __future__ import annotations

import math

import pytest

from tests.benchmarks.harness import Settings, cores
from tests.benchmarks.run import BENCHMARKS, format_report

pytestmark = pytest.mark.benchmark

CORRECTNESS_BARS = (
    "no 429 reaches a handler",
    "every message delivered exactly once",
    "none lost across the restart",
    "nothing handled twice",
)


NOT_IN_SMOKE = {"replicas_io", "redis_ceiling"}
"""Too slow even at tiny sizes for the default run (several client or replica processes to start, 5 s and more);
run them with `python -m tests.benchmarks.run --only replicas_io,redis_ceiling --quick`."""


@pytest.mark.parametrize("name", [name for name in BENCHMARKS if name not in NOT_IN_SMOKE])
def test_benchmark_runs_at_tiny_sizes(name: str) -> None:
    settings = Settings.smoke()
    report = BENCHMARKS[name](settings, cores())
    assert report.series, format_report(report)
    for series in report.series:
        assert len(series.ours) == settings.rounds, series.label
        assert all(math.isfinite(value) for value in series.ours), (series.label, series.ours)
        if series.baseline is not None:
            assert len(series.baseline) == settings.rounds, series.label
            assert all(math.isfinite(value) for value in series.baseline), (series.label, series.baseline)
    for bar in report.bars:
        if bar.description.startswith(CORRECTNESS_BARS):
            assert bar.met, f"{bar.description}: {bar.value}"
    assert format_report(report, markdown=True).startswith("### ")
