"""The harness's round order: ABBA, so a drift over a run weighs on both sides alike."""

from __future__ import annotations

from tests.benchmarks.harness import Bar, Series, abba, steal_ticks


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


STAT = """cpu  131478 0 14139 256415 2464 0 3019 2319 0 0
cpu0 74619 0 7974 118109 1897 0 1571 1135 0 0
cpu1 56858 0 6165 138306 567 0 1447 1184 0 0
intr 1234 0 0
"""


def test_steal_is_read_from_its_own_column_for_the_cores_asked_about() -> None:
    assert steal_ticks(STAT, frozenset({0})) == 1135
    assert steal_ticks(STAT, frozenset({1})) == 1184
    assert steal_ticks(STAT, frozenset({0, 1})) == 2319
    assert steal_ticks(STAT) == 2319  # the machine's total line
    assert steal_ticks(STAT, frozenset({7})) == 0  # a core the machine has not


def test_a_series_of_what_the_machine_did_to_each_side_has_no_ratio() -> None:
    timed = Series("effects/s", "1/s", ours=[2.0], baseline=[4.0])
    stolen = Series("stolen", "%", ours=[0.0], baseline=[0.5], comparable=False)
    assert timed.ratios == [0.5]
    assert stolen.ratios == []
