"""The harness's round order: ABBA, so a drift over a run weighs on both sides alike."""

from __future__ import annotations

from tests.benchmarks.harness import Bar, abba


def test_every_other_round_measures_the_baseline_first() -> None:
    order: list[str] = []

    def side(name: str) -> str:
        order.append(name)
        return name

    results = [abba(index, lambda: side("ours"), lambda: side("baseline")) for index in range(4)]
    assert order == ["ours", "baseline", "baseline", "ours", "ours", "baseline", "baseline", "ours"]
    assert results == [("ours", "baseline")] * 4


def test_a_problems_bar_is_met_only_when_none_was_found() -> None:
    assert Bar.no_problems("none lost", [], "all found") == Bar("none lost", "all found", True)
    assert Bar.no_problems("none lost", ["job 3 lost", "job 7 lost"], "all found") == Bar(
        "none lost", "job 3 lost; job 7 lost", False
    )
