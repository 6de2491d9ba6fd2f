"""The `/metrics` series read at scrape time rather than updated per event: counters the worker, the
dispatcher, the webhook receiver, the schedules and the step journals keep as plain integers, and the inbox as
the shared store reports it (the same on every replica: aggregate those with max(), not sum())."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

import attrs

from framework.schedules.fires import FireStats
from framework.steps import StepCounters
from framework.store.base import InboxStats
from framework.triggers.polling import PollCounters

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

__all__ = ["Readings", "ReadingsCollector"]


@attrs.frozen(kw_only=True)
class Readings:
    """One scrape's values: this process's counters, and `inbox` from the store (None: it did not answer)."""

    ready: bool
    in_flight: int
    handed_over: int
    overloaded: int
    held: int
    unmatched: int
    steps: StepCounters | None = None
    fires: FireStats | None = None
    polls: PollCounters | None = None
    inbox: InboxStats | None = None


class ReadingsCollector:
    """Yields the series of the `readings` set for the scrape under way (nothing outside one)."""

    def __init__(self, outcomes: Counter[str]) -> None:
        self._outcomes = outcomes
        self.readings: Readings | None = None

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        readings = self.readings
        if readings is None:
            return
        events = CounterMetricFamily(
            "chatwright_events", "Events the worker finished, by what it did with them.", labels=("action",)
        )
        for action in ("done", "retry", "dead"):
            events.add_metric((action,), self._outcomes[action])
        yield events
        yield GaugeMetricFamily(
            "chatwright_in_flight",
            "Events being handled right now by this process.",
            value=readings.in_flight,
        )
        yield CounterMetricFamily(
            "chatwright_handed_over",
            "Events started at append (webhooks, ctx.emit, schedule fires), without a claim.",
            value=readings.handed_over,
        )
        yield GaugeMetricFamily(
            "chatwright_ready", "Whether the service is ready (1) or not (0).", value=int(readings.ready)
        )
        yield CounterMetricFamily(
            "chatwright_webhooks_overloaded",
            "Deliveries refused with 503 and Retry-After: the store had too many writes queued.",
            value=readings.overloaded,
        )
        yield CounterMetricFamily(
            "chatwright_webhooks_held",
            "Deliveries whose answer waited for the worker's backlog in the inbox to fall ([service] webhook_backlog).",
            value=readings.held,
        )
        yield CounterMetricFamily(
            "chatwright_events_unmatched",
            "Events no handler matched (done at once).",
            value=readings.unmatched,
        )
        if readings.steps is not None:
            yield _steps(readings.steps)
        if readings.fires is not None:
            fires = CounterMetricFamily(
                "chatwright_schedule_fires",
                "Schedule fires by result: appended, duplicate (appended before), missed (dropped), failed.",
                labels=("result",),
            )
            for result, count in attrs.asdict(readings.fires).items():
                fires.add_metric((result,), count)
            yield fires
        if readings.polls is not None:
            yield from _polls(readings.polls)
        if readings.inbox is not None:
            yield from _inbox(readings.inbox)


def _steps(counters: StepCounters) -> Metric:
    from prometheus_client.core import CounterMetricFamily

    steps = CounterMetricFamily(
        "chatwright_steps",
        "Steps of handlers, by what the step journal did with them: performed; replayed (a journal hit);"
        " reconciled, not_found, possible_duplicate (a step in doubt); mismatched.",
        labels=("outcome",),
    )
    for outcome, count in (
        ("performed", counters.performed),
        ("replayed", counters.replayed),
        ("reconciled", counters.reconciled),
        ("not_found", counters.not_found),
        ("possible_duplicate", counters.possible_duplicates),
        ("mismatched", counters.mismatched),
    ):
        steps.add_metric((outcome,), count)
    return steps


def _polls(counters: PollCounters) -> Iterator[Metric]:
    from prometheus_client.core import CounterMetricFamily

    polls = CounterMetricFamily(
        "chatwright_polls",
        "Polls of an adapter's watched chats, done or paused (after failures).",
        labels=("adapter", "outcome"),
    )
    for (adapter, outcome), count in sorted(counters.polls.items()):
        polls.add_metric((adapter, outcome), count)
    yield polls
    messages = CounterMetricFamily(
        "chatwright_polled_messages",
        "Messages polls found: delivered, or the bot's own (dropped).",
        labels=("adapter", "outcome"),
    )
    for (adapter, outcome), count in sorted(counters.messages.items()):
        messages.add_metric((adapter, outcome), count)
    yield messages


def _inbox(stats: InboxStats) -> Iterator[Metric]:
    from prometheus_client.core import GaugeMetricFamily

    yield GaugeMetricFamily(
        "chatwright_inbox_pending",
        "Events in the inbox (ready, waiting to retry, or claimed); from the shared store.",
        value=stats.pending,
    )
    yield GaugeMetricFamily(
        "chatwright_inbox_oldest_age_seconds",
        "Age of the oldest event in the inbox (0 when empty); from the shared store.",
        value=stats.oldest_age,
    )
    yield GaugeMetricFamily(
        "chatwright_dead_letters",
        "Dead letters kept in the store; from the shared store.",
        value=stats.dead_letters,
    )
