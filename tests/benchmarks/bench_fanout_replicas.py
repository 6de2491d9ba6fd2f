"""Benchmark 4b, fan-out from three replicas under one rate limit: 3 x N posts to an emulator that allows R/s.

Three service processes share one Redis store (a prefix of their own). Each appends one `bench.fanout` event
for its own third of the chats through its worker (which takes it at once) and posts to every chat of it
concurrently; the `roosted` adapter has `rate_limit = R`, which the shared limiter (framework/store/
shared_limiter.py) holds for the three together. The emulator (its own process) answers 429 beyond R requests
in any sliding second. Checked: every chat has exactly one message, no handler saw a 429, and the emulator
answered none. The achieved rate is messages / (last message stored - first event appended), the baseline is
R. Each replica also reports the limiter's round trips and its process CPU per post.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from tests.benchmarks.delivery import delivery_figures, delivery_problem
from tests.benchmarks.emulator_client import Emulator
from tests.benchmarks.harness import (
    Bar,
    Cores,
    Report,
    Series,
    Settings,
    cpu_seconds,
    emit_result,
    run_on_loop,
    spawn,
)

__all__ = ["RATE_BAR", "REPLICAS", "run"]

RATE_BAR = 0.95
REPLICAS = 3
REDIS = "redis://127.0.0.1:6379/15"


async def _replica(
    emulator_url: str, store_url: str, chat_ids: list[str], directory: Path, rate: float
) -> dict[str, Any]:
    import redis.asyncio as aioredis

    from framework.errors import RateLimited
    from framework.events import new_event
    from framework.store.shared_limiter import LeasedRateLimiter
    from framework.store.urls import redis_settings
    from tests.benchmarks.bench_fanout import fanout_runtime

    runtime, finished, outcomes = fanout_runtime(store_url, emulator_url, rate, directory)
    await runtime.start()
    # start together: every replica waits for the parent's go token
    connection_url, prefix = redis_settings(store_url)
    client = aioredis.Redis.from_url(connection_url)
    print("READY {}", flush=True)
    await client.blpop([f"{{{prefix}}}:bench-go"], timeout=60)
    await client.aclose()
    cpu = cpu_seconds()
    started = time.monotonic()
    result = await runtime.worker.append(new_event("bench.fanout", {"chat_ids": chat_ids}))
    await finished.wait()
    cpu = cpu_seconds() - cpu
    limiter = runtime.providers["roosted"].client.http._limiter  # type: ignore[attr-defined]
    await runtime.stop()
    failures = [f for d in outcomes for f in d.outcome.failures]
    return {
        "claimed_at_append": result.claimed,
        "action": outcomes[0].action,
        "started": started,
        "handler_429s": sum(isinstance(f.error, RateLimited) for f in failures),
        "failures": [f"{f.handler}: {type(f.error).__name__}: {f.error}" for f in failures][:3],
        "round_trips": limiter.round_trips if isinstance(limiter, LeasedRateLimiter) else None,
        "late": limiter.late if isinstance(limiter, LeasedRateLimiter) else None,
        "cpu_per_post": cpu / len(chat_ids),
        "posts": len(chat_ids),
    }


def measure(emulator: Emulator, settings: Settings, cores: Cores) -> dict[str, Any]:
    import redis

    per_replica = settings.fanout_chats
    chat_ids = emulator.chats(per_replica * REPLICAS)
    emulator.reset_counters()
    prefix = f"bench-fanout-{uuid.uuid4().hex[:8]}"
    store_url = f"{REDIS}?prefix={prefix}"
    client = redis.Redis.from_url(REDIS)
    try:
        client.ping()
    except redis.RedisError as error:
        raise RuntimeError(f"the replicas benchmark needs Redis at {REDIS}: {error}") from None
    try:
        with tempfile.TemporaryDirectory(prefix="chatwright-bench-") as directory:
            chats_file = Path(directory) / "chats.json"
            chats_file.write_text(
                json.dumps([chat_ids[i * per_replica : (i + 1) * per_replica] for i in range(REPLICAS)])
            )
            args = ["--emulator", emulator.url, "--store", store_url, "--chats-file", str(chats_file)]
            args += ["--rate", str(settings.fanout_rate)]
            children = [
                spawn(
                    "tests.benchmarks.bench_fanout_replicas",
                    *args,
                    "--index",
                    str(index),
                    cpus=cores.server,
                    name=f"replica-{index}",
                )
                for index in range(REPLICAS)
            ]
            for child in children:
                child.ready()
            client.rpush(f"{{{prefix}}}:bench-go", *range(REPLICAS))
            timeout = 120 + 5 * REPLICAS * per_replica / settings.fanout_rate
            replicas = [child.result(timeout=timeout) for child in children]
    finally:
        keys = list(client.scan_iter(match="{" + prefix + "}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    delivery = emulator.call("GET", "/_emulator/bench-delivery")
    stats = emulator.stats()
    started = min(replica["started"] for replica in replicas)
    return {
        "replicas": replicas,
        **delivery_figures(delivery, chat_ids),
        "achieved": stats["messages"] / (stats["last_at"] - started) if stats["messages"] else 0.0,
    }


def run(settings: Settings, cores: Cores) -> Report:
    rate = settings.fanout_rate
    total = REPLICAS * settings.fanout_chats
    report = Report(
        "fanout_replicas",
        f"4b. Fan-out from {REPLICAS} replicas on Redis: {total} posts, emulator limited to {rate:g}/s",
    )
    achieved = report.add(
        Series("messages/s achieved, 3 replicas together (baseline: R)", "1/s", baseline=[])
    )
    throttled = report.add(Series("429s answered by the emulator", "", higher_is_better=False))
    per_trip = report.add(Series("posts per limiter round trip", ""))
    cpu = report.add(Series("replica CPU per post (handler, HTTP, limiter)", "us", higher_is_better=False))
    late = report.add(Series("slots given up by callers that woke late", "", higher_is_better=False))
    handler_problems: list[str] = []
    delivery_problems: list[str] = []
    emulator = Emulator(cores.load, rate_limit=rate)
    try:
        for _ in range(settings.rounds):
            found = measure(emulator, settings, cores)
            time.sleep(1.0)  # let the emulator's sliding window empty before the next round
            assert achieved.baseline is not None
            achieved.ours.append(found["achieved"])
            achieved.baseline.append(rate)
            throttled.ours.append(found["emulator_429s"])
            replicas = found["replicas"]
            trips = sum(replica["round_trips"] or 0 for replica in replicas)
            per_trip.ours.append(sum(replica["posts"] for replica in replicas) / trips if trips else 0.0)
            cpu.ours.append(1e6 * sum(r["cpu_per_post"] for r in replicas) / len(replicas))
            late.ours.append(sum(replica["late"] or 0 for replica in replicas))
            for replica in replicas:
                if replica["action"] != "done" or replica["handler_429s"] or not replica["claimed_at_append"]:
                    handler_problems.append(f"handler failed: {replica['failures']}")
            problem = delivery_problem(found, total)
            if problem:
                delivery_problems.append(problem)
    finally:
        emulator.stop()
    ratio = Series.summary(achieved.ratios)["median"]
    report.bars.append(
        Bar("achieved rate >= 0.95 R (3 replicas together)", f"{ratio:.3f} R", ratio >= RATE_BAR)
    )
    report.bars.append(Bar.no_problems("no 429 reaches a handler", handler_problems, "none"))
    answered = sum(throttled.ours)
    report.bars.append(Bar("no 429 answered by the emulator", f"{answered:g} in all rounds", not answered))
    report.bars.append(
        Bar.no_problems(
            "every message delivered exactly once",
            delivery_problems,
            "yes (emulator state and recorded POSTs)",
        )
    )
    report.notes.append(
        "achieved = messages stored / (last message stored - first event appended), read from the emulator;"
        " each replica appends its own event (taken at once by its worker) and posts to its chats with"
        " asyncio.gather; one Redis limiter key paces the three"
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--chats-file", required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    args = parser.parse_args()
    chats_file = Path(args.chats_file)
    chats: list[list[str]] = json.loads(chats_file.read_text())
    emit_result(
        run_on_loop(
            "asyncio", _replica(args.emulator, args.store, chats[args.index], chats_file.parent, args.rate)
        )
    )


if __name__ == "__main__":
    main()
