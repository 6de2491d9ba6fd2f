"""Handler and adapter figures for the console, computed from the event history in the shared store: what every
replica finished, within the history's bounds (its size and age)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

import attrs

from framework.store.base import HistoryEntry

__all__ = ["AdapterStats", "HandlerStats", "adapter_stats", "handler_stats", "percentile"]


@attrs.frozen
class HandlerStats:
    """`runs` attempts the handler took part in (`failures` of them failed it); `p50` and `p99` are the
    durations of those attempts (all handlers of an event run in one attempt) in seconds."""

    handler: str
    runs: int
    failures: int
    p50: float | None
    p99: float | None


@attrs.frozen
class AdapterStats:
    """A provider's errors that failed a handler (as `ProviderError.provider` names it: roostedhr, devrev, ...),
    by HTTP status (0: no answer); `throttled` counts the 429s."""

    provider: str
    errors: int
    throttled: int
    by_status: tuple[tuple[int, int], ...]


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of `values` (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def handler_stats(entries: Sequence[HistoryEntry]) -> list[HandlerStats]:
    durations: dict[str, list[float]] = defaultdict(list)
    failures: Counter[str] = Counter()
    for entry in entries:
        for note in entry.handlers:
            name = str(note.get("handler", "?"))
            durations[name].append(entry.duration)
            if note.get("outcome") == "failed":
                failures[name] += 1
    return [
        HandlerStats(
            handler=name,
            runs=len(values),
            failures=failures[name],
            p50=percentile(values, 0.5),
            p99=percentile(values, 0.99),
        )
        for name, values in sorted(durations.items())
    ]


def adapter_stats(entries: Sequence[HistoryEntry]) -> list[AdapterStats]:
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    for entry in entries:
        for note in entry.handlers:
            provider = note.get("provider")
            if note.get("outcome") == "failed" and provider is not None:
                statuses[str(provider) or "?"][int(note.get("status") or 0)] += 1
    return [
        AdapterStats(
            provider=name,
            errors=sum(counts.values()),
            throttled=counts[429],
            by_status=tuple(sorted(counts.items())),
        )
        for name, counts in sorted(statuses.items())
    ]
