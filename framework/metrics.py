"""Counters the service keeps about itself, rendered in the Prometheus text format for `/metrics`."""

from __future__ import annotations

from collections import Counter, deque

import attrs

from framework.steps import StepCounters
from framework.triggers.polling import PollCounters
from framework.worker import Disposition

__all__ = ["Metrics", "RecentEvent"]


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


@attrs.define
class Metrics:
    """Outcome counters plus the most recent events (for the admin page)."""

    outcomes: Counter[str] = attrs.field(factory=Counter)
    _latest: deque[_Latest] = attrs.field(factory=lambda: deque(maxlen=100), alias="_latest")

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

    def render(
        self,
        *,
        pending: int,
        in_flight: int,
        ready: bool,
        handed_over: int = 0,
        steps: StepCounters | None = None,
        overloaded: int = 0,
        unmatched: int = 0,
        polls: PollCounters | None = None,
    ) -> str:
        lines = [
            "# HELP chatwright_events_total Events the worker finished, by what it did with them.",
            "# TYPE chatwright_events_total counter",
        ]
        for action in ("done", "retry", "dead"):
            lines.append(f'chatwright_events_total{{action="{action}"}} {self.outcomes[action]}')
        lines += [
            "# HELP chatwright_inbox_pending Events in the inbox (ready, waiting to retry, or claimed).",
            "# TYPE chatwright_inbox_pending gauge",
            f"chatwright_inbox_pending {pending}",
            "# HELP chatwright_in_flight Events being handled right now by this process.",
            "# TYPE chatwright_in_flight gauge",
            f"chatwright_in_flight {in_flight}",
            "# HELP chatwright_handed_over_total Events started at append (webhooks, ctx.emit, schedule fires), without a claim.",
            "# TYPE chatwright_handed_over_total counter",
            f"chatwright_handed_over_total {handed_over}",
            "# HELP chatwright_ready Whether the service is ready (1) or not (0).",
            "# TYPE chatwright_ready gauge",
            f"chatwright_ready {int(ready)}",
            "# HELP chatwright_webhooks_overloaded_total Deliveries refused with 503 and Retry-After: the store had too many writes queued.",
            "# TYPE chatwright_webhooks_overloaded_total counter",
            f"chatwright_webhooks_overloaded_total {overloaded}",
            "# HELP chatwright_events_unmatched_total Events no handler matched (done at once).",
            "# TYPE chatwright_events_unmatched_total counter",
            f"chatwright_events_unmatched_total {unmatched}",
        ]
        if steps is not None:
            lines += [
                "# HELP chatwright_steps_total Steps of handlers, by what the step journal did with them.",
                "# TYPE chatwright_steps_total counter",
            ]
            for outcome, count in (
                ("performed", steps.performed),
                ("replayed", steps.replayed),
                ("reconciled", steps.reconciled),
                ("not_found", steps.not_found),
                ("possible_duplicate", steps.possible_duplicates),
                ("mismatched", steps.mismatched),
            ):
                lines.append(f'chatwright_steps_total{{outcome="{outcome}"}} {count}')
        if polls is not None:
            lines += [
                "# HELP chatwright_polls_total Polls of an adapter's watched chats, done or paused (after failures).",
                "# TYPE chatwright_polls_total counter",
            ]
            lines += [
                f'chatwright_polls_total{{adapter="{adapter}",outcome="{outcome}"}} {count}'
                for (adapter, outcome), count in sorted(polls.polls.items())
            ]
            lines += [
                "# HELP chatwright_polled_messages_total Messages polls found: delivered, or the bot's own (dropped).",
                "# TYPE chatwright_polled_messages_total counter",
            ]
            lines += [
                f'chatwright_polled_messages_total{{adapter="{adapter}",outcome="{outcome}"}} {count}'
                for (adapter, outcome), count in sorted(polls.messages.items())
            ]
        return "\n".join(lines) + "\n"
