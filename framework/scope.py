"""What the code running now is working on - the event, its correlation id, the handler, the adapter call - for
the log lines (framework.logs), the provider-call metrics and the spans to name it.

One context variable holds a `Scope`; each layer of the flow narrows it for the code it runs: the webhook
receiver for its request, the worker for an event's handling, the dispatcher for each handler call, the step
journal for each provider call. asyncio copies the variable into every task, so handlers running concurrently
each see their own.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

__all__ = ["Scope", "bind", "current", "reset"]


class Scope:
    """The event being handled (`event_id`, `correlation_id`: the event's `trace_id`, shared with every event it
    causes), the handler call and `attempt`, the adapter and operation of a provider call; None where unknown.

    A plain slotted class, not attrs: one is made per event and per handler call.
    """

    __slots__ = ("adapter", "attempt", "correlation_id", "event_id", "handler", "operation")

    def __init__(
        self,
        event_id: str | None = None,
        correlation_id: str | None = None,
        handler: str | None = None,
        attempt: int | None = None,
        adapter: str | None = None,
        operation: str | None = None,
    ) -> None:
        self.event_id = event_id
        self.correlation_id = correlation_id
        self.handler = handler
        self.attempt = attempt
        self.adapter = adapter
        self.operation = operation

    def fields(self) -> dict[str, str | int]:
        """The known fields, by name (for a log line)."""
        found: dict[str, str | int] = {}
        for name in ("event_id", "correlation_id", "handler", "attempt", "adapter", "operation"):
            value = getattr(self, name)
            if value is not None:
                found[name] = value
        return found

    def with_call(self, adapter: str | None, operation: str) -> Scope:
        return Scope(self.event_id, self.correlation_id, self.handler, self.attempt, adapter, operation)


_NOWHERE = Scope()
_SCOPE: ContextVar[Scope] = ContextVar("chatwright_scope", default=_NOWHERE)


def current() -> Scope:
    return _SCOPE.get()


def bind(scope: Scope) -> Token[Scope]:
    """Make `scope` the current one (in this task) until `reset` with the token returned."""
    return _SCOPE.set(scope)


def reset(token: Token[Scope]) -> None:
    _SCOPE.reset(token)
