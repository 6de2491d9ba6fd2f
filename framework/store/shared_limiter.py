"""A rate limit shared by processes: a GCRA whose state (the theoretical arrival time of the next request) lives
in the store, with the slots taken in small leases so a busy process pays one round trip for several requests.

The store side is one atomic reservation (`_reserve`): on Redis a Lua script (`redis_scripts.RATE`), on SQLite a
write transaction on a small file of its own. It answers "take `count` slots, the first one `wait` from now, the
next ones `interval` apart" or, when the next slot lies more than the horizon ahead, "ask again in `wait`"
without taking anything. So no slot is handed out more than RATE_HORIZON ahead, and a `hold` (a provider's
429 with a retry time), which pushes the arrival time past the pause, delays every slot not yet handed out,
in every process.

In one process the callers queue behind a lock: the one at its head asks for as many slots as callers are
waiting (at most LEASE_SPAN seconds of them) and each sleeps until its own slot. Should the store fail, the
process paces alone at the same rate (a per-process `RateLimiter`) until the store answers again.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections import deque

from framework.http import LATE_SLOT, RateLimiter

__all__ = ["LEASE_SPAN", "RATE_HORIZON", "LeasedRateLimiter"]

log = logging.getLogger("chatwright.store")

RATE_HORIZON = 0.1
"""Seconds ahead a slot is handed out at most: a 429's hold pushes back every slot beyond this."""

LEASE_SPAN = 0.05
"""Seconds of slots one reservation takes at most (at 200 requests/s, 10 slots), and never more than callers are
waiting for, so none go unused when the traffic is light."""


OFFSET_SAMPLES = 64
"""Reservations whose smallest (loop clock - store clock) estimates the offset between the two clocks."""


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


class LeasedRateLimiter(abc.ABC):
    """The client side of a shared limiter (see the module); a store supplies `_reserve`."""

    failures: tuple[type[BaseException], ...] = ()
    """Errors of the store for which the process paces alone instead."""

    def __init__(self, key: str, rate: float, burst: int = 1) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        self.key = key
        self.interval = 1.0 / rate
        self._interval_us = max(1, _us(self.interval))
        self._allowance_us = max(0, burst - 1) * self._interval_us
        self._horizon_us = _us(max(RATE_HORIZON, 2 * self.interval))
        self.max_lease = max(1, int(rate * LEASE_SPAN))
        self._slots: deque[float] = deque()
        self._offsets: deque[float] = deque(maxlen=OFFSET_SAMPLES)
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._holds = 0
        self._fallback = RateLimiter(rate, burst)
        self.round_trips = 0
        """Reservations made (acquire and hold), for tests and the benchmark."""
        self.late = 0
        """Slots given up because their caller woke too late for them (see LATE_SLOT)."""

    @abc.abstractmethod
    async def _reserve(
        self, interval_us: int, allowance_us: int, count: int, horizon_us: int, hold_us: int
    ) -> tuple[int, int, int]:
        """Atomically: with `hold_us` > 0, push the arrival time to `now + hold_us`; else take `count` slots if
        the first lies within `horizon_us` -> (count, us from `now` until the first, may be negative, now), or
        -> (0, us to wait before asking again, now); `now` is the store's clock in us."""

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        late_once = False
        while True:
            slot = self._take(loop.time())
            if slot is None:
                self._waiting += 1
                try:
                    async with self._lock:
                        slot = self._take(loop.time())
                        if slot is None:
                            slot = await self._lease(loop)
                except self.failures as error:
                    log.warning(
                        "rate limit %s: the store failed (%s); pacing this process alone", self.key, error
                    )
                    await self._fallback.acquire()
                    return
                finally:
                    self._waiting -= 1
            holds = self._holds
            wait = slot - loop.time()
            if wait <= 0:
                if -wait <= LATE_SLOT or late_once:
                    return
                late_once = True  # the slot passed while the reply waited to be read: take a new one
                self.late += 1
                continue
            await asyncio.sleep(wait)
            if holds != self._holds:
                continue
            if loop.time() - slot <= LATE_SLOT or late_once:
                return
            late_once = True  # woke too late for its slot: take a new one (once), see LATE_SLOT
            self.late += 1

    def _take(self, now: float) -> float | None:
        """The next leased slot still usable (one whose time passed by more than an interval is dropped)."""
        while self._slots:
            slot = self._slots.popleft()
            if slot >= now - self.interval:
                return slot
        return None

    async def _lease(self, loop: asyncio.AbstractEventLoop) -> float:
        while True:
            count = max(1, min(self.max_lease, self._waiting))
            granted, wait_us, store_now_us = await self._reserve(
                self._interval_us, self._allowance_us, count, self._horizon_us, 0
            )
            self.round_trips += 1
            ran_at = self._local_time(loop.time(), store_now_us)
            if granted:
                slots = [ran_at + max(0, wait_us + i * self._interval_us) / 1e6 for i in range(granted)]
                self._slots.extend(slots[1:])
                return slots[0]
            await asyncio.sleep(wait_us / 1e6)

    def _local_time(self, received: float, store_now_us: int) -> float:
        """When (on the loop's clock) the store ran the reservation: its clock plus the smallest offset seen
        lately. The reply may wait in a busy loop before it is read; slots counted from when it was read would
        shift later by that wait, into other processes' slots."""
        self._offsets.append(received - store_now_us / 1e6)
        return store_now_us / 1e6 + min(self._offsets)

    async def hold(self, seconds: float) -> None:
        if not seconds > 0:
            return
        self._slots.clear()
        self._holds += 1
        await self._fallback.hold(seconds)
        try:
            await self._reserve(self._interval_us, self._allowance_us, 0, 0, _us(seconds))
            self.round_trips += 1
        except self.failures as error:
            log.warning(
                "rate limit %s: the store failed (%s); the hold applies to this process only", self.key, error
            )
