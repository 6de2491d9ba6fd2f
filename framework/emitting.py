"""Running events inline, without the inbox: what `chatwright emit` does to try a plugin against real adapters."""

from __future__ import annotations

from collections import deque

from framework.config import Config
from framework.dispatch import DispatchOutcome
from framework.events import Event
from framework.runtime import Runtime

__all__ = ["run_inline"]

MAX_EVENTS = 1000
"""An emit chain longer than this is cut short (a handler emitting in a loop)."""


async def run_inline(
    config: Config, event: Event, *, runtime: Runtime | None = None
) -> list[tuple[Event, DispatchOutcome]]:
    """Dispatch `event`, then every event its handlers emit, in order; failing handlers are not retried.

    Plugin state goes to the configured store; jobs scheduled with `ctx.schedule` are kept in its job store
    for the service to fire (nothing fires here).
    """
    runtime = runtime or Runtime(config)
    queue: deque[Event] = deque([event])

    async def collect(child: Event, ordering_key: str | None) -> str:
        queue.append(child)
        return child.id

    runtime.dispatcher.emitter = collect
    results: list[tuple[Event, DispatchOutcome]] = []
    await runtime.start(worker=False, fire_schedules=False)
    try:
        while queue and len(results) < MAX_EVENTS:
            current = queue.popleft()
            results.append((current, await runtime.dispatcher.dispatch(current)))
    finally:
        await runtime.stop()
    return results
