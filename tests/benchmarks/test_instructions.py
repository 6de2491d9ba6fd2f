"""The instruction-count tool's arithmetic and command line (a real count runs servers under valgrind for minutes,
so it is not part of the test run: `python -m tests.benchmarks.instructions`)."""

from __future__ import annotations

import pytest

from tests.benchmarks.instructions import Count, instructions_in, main, per_webhook
from tests.benchmarks.journal_calls import make_calls

CALLGRIND_HEADER = """# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 4242
cmd:  python -m tests.benchmarks.servers ours --loop uvloop
events: Ir
summary: 2683122503
"""


def test_the_total_is_read_from_the_summary_line() -> None:
    assert instructions_in(CALLGRIND_HEADER) == 2_683_122_503
    assert instructions_in(CALLGRIND_HEADER.replace("summary:", "totals:")) == 2_683_122_503
    with pytest.raises(ValueError, match="no summary line"):
        instructions_in("events: Ir\n")


def test_the_cost_per_webhook_is_the_slope_so_start_up_cancels_out() -> None:
    start_up = 1_700_000_000
    small, large = Count(300, start_up + 300 * 815_000), Count(1300, start_up + 1300 * 815_000)
    assert per_webhook(small, large) == 815_000
    with pytest.raises(ValueError, match="more webhooks"):
        per_webhook(large, small)


def test_an_unknown_benchmark_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--only", "ingest,dispatch"])
    assert exited.value.code == 2
    assert "unknown benchmark(s) dispatch; expected ingest, e2e, journal" in capsys.readouterr().err


def test_without_valgrind_it_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["--only", "ingest"]) == 2
    assert "valgrind is not on PATH" in capsys.readouterr().err


async def test_the_journal_benchmark_calls_the_adapter_through_a_journal_that_stores_nothing() -> None:
    # its journals have no store: a first delivery's only step reads no records and writes none, or this raises
    await make_calls(20, steps=True)
    await make_calls(20, steps=False)
