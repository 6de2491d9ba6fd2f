"""Counters and histograms for the hot path, exported through prometheus_client at scrape time.

prometheus_client's own Counter and Histogram are safe across threads: every update takes a lock and checks the
metric's state, about 35 and 70 times the cost of a bare function call. Every update here happens on the event
loop's thread, so a labelled series is a plain slotted object (an int, or bucket counts and a sum) made once per
label values and kept by its caller; the families turn them into prometheus_client metric families when
`/metrics` is scraped (importing prometheus_client then, not before), and prometheus_client writes the text.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

__all__ = ["CountedSeries", "CounterFamily", "HistogramFamily", "Source", "TimedSeries"]


class Source(Protocol):
    """Series that make their prometheus_client metric families when `/metrics` is scraped."""

    def collect(self) -> Iterator[Metric]: ...


class CountedSeries:
    """One labelled counter: `value += 1`."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class TimedSeries:
    """One labelled histogram: `observe(seconds)` adds to its bucket and its sum."""

    __slots__ = ("_bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        """Observations per bucket (not cumulative); the last is above every bound (+Inf)."""
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self._bounds, value)] += 1
        self.total += value


class CounterFamily:
    """A counter named `name` (exported as `name_total`) with one series per label values."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self._name = name
        self._documentation = documentation
        self._labels = tuple(labels)
        self._series: dict[tuple[str, ...], CountedSeries] = {}

    def series(self, *values: str) -> CountedSeries:
        """The series of these label values (made on first use; keep it)."""
        found = self._series.get(values)
        if found is None:
            found = self._series[values] = CountedSeries()
        return found

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily

        family = CounterMetricFamily(self._name, self._documentation, labels=self._labels)
        for values, series in self._series.items():
            family.add_metric(values, series.value)
        yield family


class HistogramFamily:
    """A histogram with the upper bounds `buckets` and one series per label values."""

    def __init__(
        self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._labels = tuple(labels)
        self._bounds = tuple(sorted(buckets))
        self._series: dict[tuple[str, ...], TimedSeries] = {}

    def series(self, *values: str) -> TimedSeries:
        """The series of these label values (made on first use; keep it)."""
        found = self._series.get(values)
        if found is None:
            found = self._series[values] = TimedSeries(self._bounds)
        return found

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        les = [*(floatToGoString(bound) for bound in self._bounds), "+Inf"]  # type: ignore[no-untyped-call]
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labels)
        for values, series in self._series.items():
            cumulative = 0
            buckets: list[tuple[str, float]] = []
            for le, count in zip(les, series.counts, strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric(values, buckets, series.total)
        yield family
