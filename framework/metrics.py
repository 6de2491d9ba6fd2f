"""What the service measures about itself, served at `/metrics` in the Prometheus text format (prometheus_client,
loaded at the first scrape: framework.metrics_exposition).

Every runtime has its own registry, so several runtimes in one process (tests, `chatwright demo`) do
not share series. The hot path (a webhook, a handler call, a provider call) updates histograms and counters
(framework.metric_series) whose labelled series are made once per route, handler or adapter operation and
kept; the rest - counters the worker, the dispatcher and the step journals keep as plain integers, and what the
shared store says - is read when `/metrics` is scraped (framework.metrics_readings).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections import deque
from typing import TYPE_CHECKING

import attrs

from framework.metric_series import CountedSeries, CounterFamily, HistogramFamily, Source, TimedSeries
from framework.metrics_readings import Readings, ReadingsCollector
from framework.tracing import Tracer
from framework.worker import Disposition

if TYPE_CHECKING:
    from framework.metrics_exposition import Exposition

__all__ = ["Metrics", "ProviderCalls", "RecentEvent"]

INTAKE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
HANDLER_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
PROVIDER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)

UNKNOWN_OPERATION = "other"
"""The operation label of a provider call made outside a step (steps off, or the adapter used directly)."""


@attrs.frozen
class RecentEvent:
    event_id: str
    type: str
    action: str
    attempt: int
    handlers: tuple[str, ...]
    error: str | None


_Latest = tuple[str, str, str, int, tuple[str, ...], str | None]
"""event id, type, action, attempt, handlers that succeeded, error text"""


class ProviderCalls:
    """The provider-call series of one adapter (`[adapters.NAME]`), given to its HTTP client (with the
    runtime's tracer, when tracing is on: framework.http.CallObserver)."""

    def __init__(
        self,
        adapter: str,
        calls: CounterFamily,
        seconds: HistogramFamily,
        retries: CounterFamily,
        tracer: Tracer | None = None,
    ) -> None:
        self.adapter = adapter
        self.tracer = tracer
        self._calls = calls
        self._seconds = seconds
        self._retries = retries
        self._counted: dict[tuple[str, str], CountedSeries] = {}
        self._timed: dict[str, TimedSeries] = {}
        self._retried: dict[str, CountedSeries] = {}

    def finished(self, operation: str | None, status: str, seconds: float) -> None:
        """A request answered with `status` (the HTTP status, or `error` when no answer came)."""
        operation = operation or UNKNOWN_OPERATION
        counted = self._counted.get((operation, status))
        if counted is None:
            counted = self._counted[operation, status] = self._calls.series(self.adapter, operation, status)
        counted.value += 1
        timed = self._timed.get(operation)
        if timed is None:
            timed = self._timed[operation] = self._seconds.series(self.adapter, operation)
        timed.observe(seconds)

    def retried(self, operation: str | None) -> None:
        """A request is sent again (after a 429, a 5xx or a connection error)."""
        operation = operation or UNKNOWN_OPERATION
        retried = self._retried.get(operation)
        if retried is None:
            retried = self._retried[operation] = self._retries.series(self.adapter, operation)
        retried.value += 1


class Metrics:
    """A runtime's series, its registry, and the most recent events (for the admin page)."""

    def __init__(self) -> None:
        self._exposition: Exposition | None = None
        self.outcomes: Tally[str] = Tally()
        """Events the worker finished, by action (`done`, `retry`, `dead`)."""
        self._latest: deque[_Latest] = deque(maxlen=100)
        self._webhooks = CounterFamily(
            "chatwright_webhook_requests",
            "Webhook deliveries answered, by route and HTTP status.",
            ("route", "status"),
        )
        self._intake = HistogramFamily(
            "chatwright_webhook_intake_seconds",
            "Seconds from a delivery's arrival to its answer (verified, parsed and stored).",
            ("route",),
            INTAKE_BUCKETS,
        )
        self._handlers = HistogramFamily(
            "chatwright_handler_seconds",
            "Seconds a handler call took, by handler and outcome (ok, error).",
            ("handler", "outcome"),
            HANDLER_BUCKETS,
        )
        self._provider_calls = CounterFamily(
            "chatwright_provider_calls",
            "Requests sent to providers, by adapter, operation and HTTP status (error: no answer).",
            ("adapter", "operation", "status"),
        )
        self._provider_seconds = HistogramFamily(
            "chatwright_provider_call_seconds",
            "Seconds a provider request took, by adapter and operation.",
            ("adapter", "operation"),
            PROVIDER_BUCKETS,
        )
        self._provider_retries = CounterFamily(
            "chatwright_provider_retries",
            "Provider requests sent again after a 429, a 5xx or a connection error.",
            ("adapter", "operation"),
        )
        self._lateness_family = HistogramFamily(
            "chatwright_schedule_lateness_seconds",
            "Seconds between a schedule fire's planned time and its append to the inbox.",
            (),
            LATENESS_BUCKETS,
        )
        self._lateness = self._lateness_family.series()
        self._readings = ReadingsCollector(self.outcomes)
        self._sources: tuple[Source, ...] = (
            self._webhooks,
            self._intake,
            self._handlers,
            self._provider_calls,
            self._provider_seconds,
            self._provider_retries,
            self._lateness_family,
            self._readings,
        )
        self._routes: dict[tuple[str, int], tuple[CountedSeries, TimedSeries]] = {}
        self._handler_series: dict[tuple[str, bool], TimedSeries] = {}
        self._adapters: dict[str, ProviderCalls] = {}

    # -- the hot path ----------------------------------------------------------------------------------------

    def webhook(self, route: str, status: int, seconds: float) -> None:
        series = self._routes.get((route, status))
        if series is None:
            series = self._routes[route, status] = (
                self._webhooks.series(route, str(status)),
                self._intake.series(route),
            )
        series[0].value += 1
        series[1].observe(seconds)

    def handler(self, handler: str, ok: bool, seconds: float) -> None:
        series = self._handler_series.get((handler, ok))
        if series is None:
            series = self._handler_series[handler, ok] = self._handlers.series(
                handler, "ok" if ok else "error"
            )
        series.observe(seconds)

    def provider(self, adapter: str, tracer: Tracer | None = None) -> ProviderCalls:
        """The series of adapter `adapter`'s provider calls (made once per adapter and tracer)."""
        calls = self._adapters.get(adapter)
        if calls is None or calls.tracer is not tracer:
            calls = self._adapters[adapter] = ProviderCalls(
                adapter, self._provider_calls, self._provider_seconds, self._provider_retries, tracer
            )
        return calls

    def schedule_fired(self, lateness: float) -> None:
        self._lateness.observe(max(0.0, lateness))

    def record(self, disposition: Disposition) -> None:
        # Runs for every event: a plain tuple (no event data, no exception objects); `recent` builds the
        # summaries only when asked.
        outcome = disposition.outcome
        event = outcome.event
        self.outcomes[disposition.action] += 1
        failures = outcome.failures
        error = "; ".join(f"{f.handler}: {f.error}" for f in failures) if failures else None
        self._latest.appendleft(
            (event.id, event.type, disposition.action, event.attempt, outcome.succeeded, error)
        )

    # -- reading ---------------------------------------------------------------------------------------------

    @property
    def recent(self) -> list[RecentEvent]:
        """The last 100 events the worker finished, newest first."""
        return [
            RecentEvent(
                event_id=event_id,
                type=event_type,
                action=action,
                attempt=attempt,
                handlers=succeeded,
                error=error,
            )
            for event_id, event_type, action, attempt, succeeded, error in self._latest
        ]

    def render(self, readings: Readings) -> tuple[bytes, str]:
        """Every series in the Prometheus text format, with the values read at scrape time from `readings`;
        and the text's content type."""
        if self._exposition is None:
            from framework.metrics_exposition import Exposition

            self._exposition = Exposition(self._sources)
        # No await between setting the readings and rendering them: a concurrent scrape cannot interleave.
        self._readings.readings = readings
        try:
            return self._exposition.text(), self._exposition.content_type
        finally:
            self._readings.readings = None
