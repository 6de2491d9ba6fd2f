"""The one backoff formula every retry waits by (HTTP calls, handler retries, schedule fire appends): full
jitter under an exponential ceiling that `max_delay` caps."""

from __future__ import annotations

import random

from framework.retries import HandlerRetry, backoff


def test_waits_stay_under_a_ceiling_that_doubles_per_try_up_to_max_delay() -> None:
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (10, 3.0)]:
        waits = [backoff(attempt, 0.5, 3.0, rng) for _ in range(500)]
        assert all(0 <= wait <= ceiling for wait in waits)
        assert max(waits) > 0.9 * ceiling  # the whole range is used ...
        assert min(waits) < 0.1 * ceiling  # ... so callers that failed together spread out


def test_handler_retries_wait_by_the_same_formula() -> None:
    retry = HandlerRetry(attempts=5, base_delay=1.0, max_delay=4.0)
    assert [retry.delay(attempt, random.Random(3)) for attempt in (1, 2, 3, 9)] == [
        backoff(attempt, 1.0, 4.0, random.Random(3)) for attempt in (1, 2, 3, 9)
    ]
