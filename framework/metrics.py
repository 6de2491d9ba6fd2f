"""Counters the service keeps about itself, rendered in the Prometheus text format for `/metrics`."""

from __future__ import annotations

from collections import Counter, deque

import attrs

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


@attrs.define
class Metrics:
    """Outcome counters plus the most recent events (for the admin page)."""

    outcomes: Counter[str] = attrs.field(factory=Counter)
    recent: deque[RecentEvent] = attrs.field(factory=lambda: deque(maxlen=100))

    def record(self, disposition: Disposition) -> None:
        outcome = disposition.outcome
        self.outcomes[disposition.action] += 1
        error = "; ".join(f"{f.handler}: {f.error}" for f in outcome.failures) or None
        self.recent.appendleft(
            RecentEvent(
                event_id=outcome.event.id,
                type=outcome.event.type,
                action=disposition.action,
                attempt=outcome.event.attempt,
                handlers=outcome.succeeded,
                error=error,
            )
        )

    def render(self, *, pending: int, in_flight: int, ready: bool) -> str:
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
            "# HELP chatwright_ready Whether the service is ready (1) or not (0).",
            "# TYPE chatwright_ready gauge",
            f"chatwright_ready {int(ready)}",
        ]
        return "\n".join(lines) + "\n"
