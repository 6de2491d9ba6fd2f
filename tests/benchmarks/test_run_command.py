"""The command a run records (report header, JSON, markdown, plot captions) repeats its measurements."""

from __future__ import annotations

from tests.benchmarks.run import measuring_command


def test_the_recorded_command_leaves_out_where_the_numbers_were_written() -> None:
    argv = ["--only", "scaling", "--rounds", "3", "--json", "/tmp/run/scaling.json", "--markdown=/tmp/out.md"]
    assert measuring_command(argv) == "python -m tests.benchmarks.run --only scaling --rounds 3"


def test_the_recorded_command_keeps_every_setting_quoted() -> None:
    argv = ["--only", "e2e", "--peers", "opsdroid,errbot", "--loops", "asyncio uvloop"]
    assert (
        measuring_command(argv)
        == "python -m tests.benchmarks.run --only e2e --peers opsdroid,errbot --loops 'asyncio uvloop'"
    )
