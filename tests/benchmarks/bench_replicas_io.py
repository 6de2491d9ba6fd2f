"""Benchmark 4c, scale-out with handlers that wait on I/O: effects/s for 1, 2 and 3 replicas under one rate limit.

Three replica processes share one Redis store (a prefix of their own). In each phase k of them (1, 2, 3) start a
service runtime; the parent then appends N `shift.published` events, each one post to a chat of its own, and
the k workers share the inbox. The emulator (its own process) answers each post after `io_latency` seconds and
answers 429 beyond R requests in any sliding second; the `roosted` adapter has `rate_limit = R`. One replica is
bound by its own handler slots: at most `io_concurrency / io_latency` posts a second (80/s with 20 slots and
0.25 s), so R = 180 lies just above two replicas' worth and well below three's: effects/s grow from one replica
to two and flatten at R with three. Effects/s = (messages - 1) / (last message - first message), read from the
emulator; it is reported against 1 replica, against 2 and against R. Checked: every chat
has exactly one message, no handler saw a 429, every event was handled once. The phases of a round run back to
back on the same three processes, so their ratios share the machine's load of that moment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from tests.benchmarks.delivery import delivery_figures
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

__all__ = ["GROWTH_BAR", "LIMIT_BAR", "REPLICAS", "THIRD_BAR", "run"]

REPLICAS = 3
RATE = 180.0
GROWTH_BAR = 1.7
"""Two replicas reach at least this many times one replica's effects/s."""
THIRD_BAR = 1.05
"""Three replicas reach more than two (but, limited, less than the 1.5 times their slots would give)."""
LIMIT_BAR = 0.85
"""Three replicas reach at least this share of the limit (the shared limiter keeps 3% below it)."""
REDIS = "redis://127.0.0.1:6379/15"


def _config(store_url: str, emulator_url: str, concurrency: int, directory: Path) -> Any:
    from framework.config import config_from_dict

    return config_from_dict(
        {
            "service": {"concurrency": concurrency},
            "store": {"url": store_url},
            "adapters": {
                "roosted": {
                    "provider": "roostedhr",
                    "base_url": emulator_url,
                    "api_key": "test-key",
                    "worker_id": "3158",
                    "rate_limit": RATE,
                }
            },
            "plugins": {"entry_points": False},
        },
        directory / "bench.toml",
        "bench.toml",
        {},
    )


async def _replica(index: int, emulator_url: str, store_url: str, concurrency: int) -> None:
    """Serve one phase per `run` command on its command list, until `exit`; each phase's figures go to the
    parent through the `bench-done` list."""
    import redis.asyncio as aioredis

    from framework.errors import RateLimited
    from framework.runtime import Runtime
    from framework.store.urls import redis_settings
    from framework.worker import Disposition
    from tests.benchmarks.plugins import post_plugin

    connection_url, prefix = redis_settings(store_url)
    client = aioredis.Redis.from_url(connection_url)
    commands, done = f"{{{prefix}}}:bench-cmd:{index}", f"{{{prefix}}}:bench-done"
    directory = Path(tempfile.mkdtemp(prefix="chatwright-bench-"))
    print("READY {}", flush=True)
    try:
        while True:
            command = await _next(client, commands)
            if command == b"exit":
                return
            outcomes: list[Disposition] = []
            runtime = Runtime(
                _config(store_url, emulator_url, concurrency, directory),
                plugins=[post_plugin("roosted")],
                listeners=[outcomes.append],
                with_schedules=False,
            )
            await runtime.start()
            await client.rpush(done, json.dumps({"started": index}))
            cpu = cpu_seconds()
            await _next(client, commands)  # stop
            cpu = cpu_seconds() - cpu
            await runtime.stop()
            failures = [f for d in outcomes for f in d.outcome.failures]
            found = {
                "index": index,
                "handled": len(outcomes),
                "done": sum(d.action == "done" for d in outcomes),
                "handler_429s": sum(isinstance(f.error, RateLimited) for f in failures),
                "failures": [f"{f.handler}: {type(f.error).__name__}: {f.error}" for f in failures][:3],
                "cpu_per_event": cpu / len(outcomes) if outcomes else 0.0,
            }
            await client.rpush(done, json.dumps(found))
    finally:
        await client.aclose()
        shutil.rmtree(directory, ignore_errors=True)


async def _next(client: Any, commands: str) -> bytes:
    """The next command for this replica (short blocking reads: the client's socket timeout ends long ones)."""
    while True:
        found = await client.blpop([commands], timeout=1)
        if found is not None:
            command: bytes = found[1]
            return command


async def _append(store_url: str, chat_ids: list[str]) -> None:
    from framework.events import new_event
    from framework.store.factory import open_store

    store = open_store(store_url)
    await store.open()
    try:
        # 50 at a time: the inbox fills faster than one replica empties it, as under a burst of webhooks
        for start in range(0, len(chat_ids), 50):
            await asyncio.gather(
                *(
                    store.append(new_event("shift.published", {"data": {"chat_id": chat}}))
                    for chat in chat_ids[start : start + 50]
                )
            )
    finally:
        await store.close()


def phase(
    replicas: int, emulator: Emulator, settings: Settings, store_url: str, client: Any, prefix: str
) -> dict[str, Any]:
    """One phase: `replicas` of the processes serve while N events go through; their figures."""
    chat_ids = emulator.chats(settings.io_events)
    emulator.reset_counters()
    done = f"{{{prefix}}}:bench-done"
    for index in range(replicas):
        client.rpush(f"{{{prefix}}}:bench-cmd:{index}", "run")
    for _ in range(replicas):
        client.blpop([done], timeout=60)
    asyncio.run(_append(store_url, chat_ids))
    slowest = settings.io_events * settings.io_latency / settings.io_concurrency
    stats = emulator.wait_for_messages(settings.io_events, timeout=60 + 3 * slowest)
    for index in range(replicas):
        client.rpush(f"{{{prefix}}}:bench-cmd:{index}", "stop")
    figures = [json.loads(client.blpop([done], timeout=60)[1]) for _ in range(replicas)]
    delivery = emulator.call("GET", "/_emulator/bench-delivery")
    delivered = delivery_figures(delivery, chat_ids)
    span = stats["last_at"] - stats["first_at"]
    return {
        "effects_per_s": (stats["messages"] - 1) / span if span > 0 else 0.0,
        "replicas": figures,
        "exactly_once": delivered["exactly_once"],
        "handled": sum(figure["handled"] for figure in figures),
        "emulator_429s": delivered["emulator_429s"],
    }


def run(settings: Settings, cores: Cores) -> Report:
    import redis

    bound = settings.io_concurrency / settings.io_latency
    report = Report(
        "replicas_io",
        f"4c. Scale-out with I/O-bound handlers: {settings.io_events} posts per phase, provider answers in"
        f" {settings.io_latency * 1000:g} ms, {settings.io_concurrency} handler slots per replica (at most"
        f" {bound:g}/s each), limit {RATE:g}/s",
    )
    one = report.add(Series("effects/s, 1 replica (baseline: slots / latency)", "1/s", baseline=[]))
    two = report.add(Series("effects/s, 2 replicas (baseline: 1 replica)", "1/s", baseline=[]))
    three = report.add(Series("effects/s, 3 replicas (baseline: 1 replica)", "1/s", baseline=[]))
    third = report.add(Series("effects/s, 3 replicas (baseline: 2 replicas)", "1/s", baseline=[]))
    limit = report.add(Series("effects/s, 3 replicas (baseline: the limit R)", "1/s", baseline=[]))
    cpu = report.add(Series("replica CPU per event, 3 replicas", "us", higher_is_better=False))
    throttled = report.add(Series("429s answered by the emulator, 3 replicas", "", higher_is_better=False))
    problems: list[str] = []
    prefix = f"bench-io-{uuid.uuid4().hex[:8]}"
    store_url = f"{REDIS}?prefix={prefix}"
    client = redis.Redis.from_url(REDIS)
    try:
        client.ping()
    except redis.RedisError as error:
        raise RuntimeError(f"the replicas benchmark needs Redis at {REDIS}: {error}") from None
    emulator = Emulator(cores.load, rate_limit=RATE, latency=settings.io_latency)
    children = [
        spawn(
            "tests.benchmarks.bench_replicas_io",
            *("--emulator", emulator.url, "--store", store_url, "--index", str(index)),
            *("--concurrency", str(settings.io_concurrency)),
            cpus=None,  # as on separate machines: the pinned core is shared with the machine's other work
            name=f"replica-{index}",
        )
        for index in range(REPLICAS)
    ]
    try:
        for child in children:
            child.ready()
        for _ in range(settings.rounds):
            rates = []
            for replicas in range(1, REPLICAS + 1):
                found = phase(replicas, emulator, settings, store_url, client, prefix)
                if settings.io_events >= RATE / 2:
                    time.sleep(1.0)  # let the emulator's sliding window empty before the next phase
                rates.append(found["effects_per_s"])
                if replicas == REPLICAS:
                    cpu.ours.append(1e6 * sum(r["cpu_per_event"] for r in found["replicas"]) / REPLICAS)
                    throttled.ours.append(found["emulator_429s"])
                bad = [r for r in found["replicas"] if r["handler_429s"] or r["done"] != r["handled"]]
                if bad or not found["exactly_once"] or found["handled"] != settings.io_events:
                    problems.append(
                        f"{replicas} replica(s): handled {found['handled']} of {settings.io_events},"
                        f" exactly once: {found['exactly_once']}, failures: {[r['failures'] for r in bad]}"
                    )
            for series, ours, baseline in (
                (one, rates[0], bound),
                (two, rates[1], rates[0]),
                (three, rates[2], rates[0]),
                (third, rates[2], rates[1]),
                (limit, rates[2], RATE),
            ):
                assert series.baseline is not None
                series.ours.append(ours)
                series.baseline.append(baseline)
    finally:
        for index in range(REPLICAS):
            client.rpush(f"{{{prefix}}}:bench-cmd:{index}", "exit")
        for child in children:
            child.result(timeout=30)
        emulator.stop()
        keys = list(client.scan_iter(match="{" + prefix + "}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    growth = Series.summary(two.ratios)["median"]
    share = Series.summary(limit.ratios)["median"]
    more = Series.summary(third.ratios)["median"]
    report.bars.append(
        Bar(f"2 replicas >= {GROWTH_BAR:g} x 1 replica", f"{growth:.2f} x", growth >= GROWTH_BAR)
    )
    report.bars.append(Bar(f"3 replicas >= {THIRD_BAR:g} x 2 replicas", f"{more:.2f} x", more >= THIRD_BAR))
    report.bars.append(Bar(f"3 replicas >= {LIMIT_BAR:g} R", f"{share:.3f} R", share >= LIMIT_BAR))
    report.bars.append(
        Bar.no_problems("every message delivered exactly once, no 429 reaches a handler", problems, "yes")
    )
    report.notes.append(
        "effects/s = (messages - 1) / (last message - first message), read from the emulator; the inbox is"
        " filled 50 appends at a time after the phase's replicas started; replicas unpinned, the emulator on the load core"
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args()
    run_on_loop("asyncio", _replica(args.index, args.emulator, args.store, args.concurrency))
    emit_result({})


if __name__ == "__main__":
    main()
