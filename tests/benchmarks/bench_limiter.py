"""The shared rate limiter's own cost per call: `acquire` on a Redis and a SQLite store, and the per-process one.

Run `python -m tests.benchmarks.bench_limiter` with Redis on 127.0.0.1:6379 (db 15, a prefix of its own). Each
line gives the wall time and the process's CPU time per `acquire`, and how many acquires one reservation (one
Redis script run, one SQLite transaction) served: callers one at a time at a rate that never makes them wait,
50 callers at once at that rate, and 50 callers paced at 200/s.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from typing import Any

from framework.http import RateLimiter
from framework.store.factory import open_store
from framework.store.shared_limiter import LeasedRateLimiter

__all__ = ["measure"]

CASES = ((1e6, 1, 4000), (1e6, 50, 4000), (200.0, 50, 400))
"""(rate, callers at once, acquires in all)."""


async def _run(limiter: Any, callers: int, total: int) -> tuple[float, float]:
    async def caller(count: int) -> None:
        for _ in range(count):
            await limiter.acquire()

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller(total // callers) for _ in range(callers)))
    return (time.perf_counter() - wall) / total, (time.process_time() - cpu) / total


async def measure() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for rate, callers, total in CASES:
        wall, cpu = await _run(RateLimiter(rate), callers, total)
        rows.append({"limiter": "per-process", "rate": rate, "callers": callers, "wall": wall, "cpu": cpu})
    with tempfile.TemporaryDirectory(prefix="chatwright-limiter-") as directory:
        urls = {
            "redis": f"redis://127.0.0.1:6379/15?prefix=bench-limiter-{uuid.uuid4().hex[:8]}",
            "sqlite": f"sqlite:///{directory}/bench.db",
        }
        for kind, url in urls.items():
            store = open_store(url)
            await store.open()
            try:
                for index, (rate, callers, total) in enumerate(CASES):
                    limiter = store.rate_limiter(f"bench-{index}", rate)
                    assert isinstance(limiter, LeasedRateLimiter)
                    wall, cpu = await _run(limiter, callers, total)
                    rows.append(
                        {
                            "limiter": kind,
                            "rate": rate,
                            "callers": callers,
                            "wall": wall,
                            "cpu": cpu,
                            "per_round_trip": total / limiter.round_trips,
                        }
                    )
            finally:
                await store.close()
    return rows


def main() -> None:
    for row in asyncio.run(measure()):
        served = f", {row['per_round_trip']:.1f} acquires per round trip" if "per_round_trip" in row else ""
        print(
            f"{row['limiter']:>11} rate {row['rate']:>9g}/s, {row['callers']:>2} callers:"
            f" {row['wall'] * 1e6:7.0f} us wall, {row['cpu'] * 1e6:5.0f} us CPU per acquire{served}"
        )


if __name__ == "__main__":
    main()
