"""How every retry waits: one backoff formula (exponential, full jitter), and the `[retry]` section for handlers.

The HTTP client (framework.http), the worker's handler retries (framework.worker) and the schedules' fire appends
(framework.schedules.fires) all wait `backoff(...)` seconds between tries.
"""

from __future__ import annotations

import random

import attrs

__all__ = ["HandlerRetry", "backoff"]


def backoff(attempt: int, base_delay: float, max_delay: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after try number `attempt` (1 for the first): full jitter, a uniform pick between 0 and
    the exponential ceiling `min(max_delay, base_delay * 2 ** (attempt - 1))`, so that callers who failed
    together do not retry together."""
    ceiling = min(max_delay, base_delay * 2 ** (attempt - 1))
    return (rng or random).uniform(0, ceiling)


@attrs.frozen(kw_only=True)
class HandlerRetry:
    """`[retry]`: how a failing event is retried: `attempts` deliveries in all, delays growing from `base_delay`."""

    attempts: int = attrs.field(default=5, validator=attrs.validators.ge(1))
    base_delay: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    max_delay: float = attrs.field(default=300.0, validator=attrs.validators.ge(0))

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait before the delivery after `attempt` (see `backoff`)."""
        return backoff(attempt, self.base_delay, self.max_delay, rng)
