"""The per-process RateLimiter: callers go `1 / rate` seconds apart in the order they asked, `burst` of them
back to back, and a rate that is not positive is refused."""

from __future__ import annotations

import asyncio

import pytest

from framework.http import RateLimiter

RATE = 50.0  # 20 ms apart


async def send_times(limiter: RateLimiter, callers: int) -> list[tuple[int, float]]:
    """(caller, loop time it was let through) for `callers` callers asking at once, in the order let through."""
    loop = asyncio.get_running_loop()
    sent: list[tuple[int, float]] = []

    async def call(caller: int) -> None:
        await limiter.acquire()
        sent.append((caller, loop.time()))

    await asyncio.gather(*(call(caller) for caller in range(callers)))
    return sent


async def test_callers_go_one_interval_apart_in_the_order_they_asked() -> None:
    sent = await send_times(RateLimiter(RATE), 6)
    assert [caller for caller, _ in sent] == list(range(6))
    start = sent[0][1]
    # each caller on its own slot or later, so no second ever holds more than the rate allows
    assert all(at - start >= index / RATE - 0.002 for index, (_, at) in enumerate(sent)), sent
    assert sent[-1][1] - sent[0][1] < 5 / RATE + 0.2  # and not much slower either


async def test_a_burst_goes_back_to_back_then_the_pacing_applies() -> None:
    sent = await send_times(RateLimiter(RATE, burst=3), 5)
    start = sent[0][1]
    assert all(at - start < 0.5 / RATE for _, at in sent[:3])  # the burst: together
    assert sent[3][1] - start >= 1 / RATE - 0.002  # then one interval apart
    assert sent[4][1] - start >= 2 / RATE - 0.002


@pytest.mark.parametrize("rate", [0.0, -1.0])
def test_a_rate_that_is_not_positive_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        RateLimiter(rate)
