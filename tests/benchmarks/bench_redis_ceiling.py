"""Benchmark 4d, the ceiling of one Redis: events a second per core of Redis, for the inbox, dedupe and the limiter.

Several client processes drive the Redis store's operations directly (no handlers, no HTTP), each with many
concurrent calls, as many replicas would: `inbox` appends 16 events, claims them and acks them (append, claim
and ack are one script each); `dedupe` appends events whose ids are already remembered (the script answers
"duplicate"); `limiter` runs the shared limiter's script (one reservation per call, never waiting). The figure
is operations per second of Redis's own CPU (its main thread, where commands run: `INFO cpu`
used_cpu_user_main_thread + used_cpu_sys_main_thread, read before and after the window) - the ceiling one Redis
core reaches once it is the bottleneck. The baseline is `INCR` driven the same way in the same run: what a
plain command costs Redis, so the ratio says how many plain commands one event costs. Redis's CPU use during
the window (its share of a core) is reported too: below 1 the clients, not Redis, were the limit, and the
per-core figure is an extrapolation from the CPU Redis did use. Python clients on a 2-core machine cannot keep
Redis busy, so the same scripts are also driven by `redis-benchmark` (Redis's C client: 50 connections, 16
calls pipelined on each), which can: `append` stores a new event (a random id each call), `dedupe` appends an id
already remembered, `limiter` reserves a slot. Pipelined calls cost Redis less each (fewer system calls), so the
two methods bound the ceiling from below (one call per round trip, as replicas send them) and from above.
The benchmark starts a Redis server of its own
(`redis-server` on a free port, no persistence), so the CPU read is this benchmark's alone, not that of other
users of the machine's Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

from tests.benchmarks.harness import Bar, Cores, Report, Series, Settings, emit_result, run_on_loop, spawn
from tests.redis_server import RedisServer

__all__ = ["WORKLOADS", "run"]

WORKLOADS = ("incr", "inbox", "dedupe", "limiter")
BATCH = 16
"""Events each call of the inbox workload appends, claims and acks together."""


async def _drive(store_url: str, workload: str, tasks: int, warmup: float, window: float) -> dict[str, Any]:
    """Run `tasks` loops of `workload` for warmup + window seconds; the operations done in the window."""
    from framework.events import new_event
    from framework.store.redis import RedisStore

    store = RedisStore(store_url)
    await store.open()
    client = store._open.client
    worker = f"ceiling-{uuid.uuid4().hex[:8]}"
    counted = [0]
    seen = [new_event("bench.seen") for _ in range(64)]
    for event in seen:
        await store.append(event)
    rate_key = store.key(f"rate:ceiling-{worker}")
    await store.claim(worker, 1, 30)  # the worker's heartbeat starts, as a replica's does before it serves
    print("READY {}", flush=True)
    while await client.blpop([store.key("bench-go")], timeout=1) is None:
        pass

    async def incr() -> int:
        await client.incr(store.key(f"counter:{worker}"))
        return 1

    async def inbox() -> int:
        await asyncio.gather(*(store.append(new_event("bench.x")) for _ in range(BATCH)))
        entries = await store.claim(worker, BATCH, 30)
        await asyncio.gather(*(store.ack(entry.event.id) for entry in entries))
        return len(entries)

    async def dedupe() -> int:
        for event in seen:
            result = await store.append(event)
            assert result.duplicate
        return len(seen)

    async def limiter() -> int:
        # 1 us apart, a second of allowance and horizon: granted at once, every call a full reservation
        granted, _, _ = await store._rate(rate_key, 1, 1_000_000, 1, 1_000_000, 0)
        assert granted == 1
        return 1

    step = {"incr": incr, "inbox": inbox, "dedupe": dedupe, "limiter": limiter}[workload]
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + warmup + window
    marks: dict[str, int] = {}

    async def run_loop() -> None:
        while loop.time() < deadline:
            done = (
                await step()
            )  # awaited before the add: `counted[0] += await ...` would lose other tasks' counts
            counted[0] += done

    async def mark() -> None:
        await asyncio.sleep(warmup)
        marks["start"] = counted[0]
        await asyncio.sleep(window)
        marks["end"] = counted[0]

    await asyncio.gather(mark(), *(run_loop() for _ in range(tasks)))
    await store.close()
    return {"count": marks["end"] - marks["start"]}


@contextlib.contextmanager
def _redis_server() -> Iterator[str]:
    """A Redis server of the benchmark's own, without persistence; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("the Redis ceiling benchmark needs `redis-server` on the PATH")
    server = RedisServer(binary, ("--appendonly", "no"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _c_client(url: str, client: Any, workload: str, requests: int) -> dict[str, float]:
    """`requests` calls of one store script from redis-benchmark, pipelined: calls per Redis CPU second."""
    from framework.events import event_to_json, new_event
    from framework.store import redis_scripts as lua
    from framework.store.redis import RedisStore

    store = RedisStore(f"{url}?prefix=bench-c")
    inbox, prefix = store.key("inbox"), store.key_prefix
    event = event_to_json(
        new_event("bench.x", {"chat_id": "c-1", "text": "Your shift starts soon."})
    ).decode()
    week_ms = str(7 * 24 * 3600 * 1000)
    if workload == "incr":
        call = ["INCR", store.key("counter")]
    elif workload == "limiter":
        sha = client.script_load(lua.RATE)
        call = ["EVALSHA", sha, "1", store.key("rate:c"), "1", "1000000", "1", "1000000", "0"]
    else:
        sha = client.script_load(lua.APPEND)
        event_id = "seen" if workload == "dedupe" else "e-__rand_int__"
        call = ["EVALSHA", sha, "1", inbox, prefix, event_id, event, "0", "", week_ms, "", "0"]
    port = str(client.connection_pool.connection_kwargs["port"])
    command = ["redis-benchmark", "-p", port, "-c", "50", "-P", "16", "-n", str(requests), "-q"]
    command += ["-r", "1000000000", *call]
    cpu, wall = _redis_cpu(client), time.monotonic()
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    cpu, wall = _redis_cpu(client) - cpu, time.monotonic() - wall
    return {"per_core": requests / cpu if cpu > 0 else 0.0, "busy": cpu / wall}


def _redis_cpu(client: Any) -> float:
    """Seconds of CPU Redis's main thread used so far (the whole process where Redis does not say)."""
    info = client.info("cpu")
    if "used_cpu_user_main_thread" in info:
        return float(info["used_cpu_user_main_thread"]) + float(info["used_cpu_sys_main_thread"])
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def measure(workload: str, settings: Settings, client: Any, store_url: str, prefix: str) -> dict[str, float]:
    """One window of `workload` from `settings.ceiling_clients` processes: ops per Redis CPU second, and the
    share of a core Redis used."""
    children = [
        spawn(
            "tests.benchmarks.bench_redis_ceiling",
            *("--store", store_url, "--workload", workload, "--tasks", str(settings.ceiling_tasks)),
            *("--warmup", str(settings.warmup), "--window", str(settings.seconds), "--index", str(index)),
            cpus=None,
            name=f"client-{index}",
        )
        for index in range(settings.ceiling_clients)
    ]
    for child in children:
        child.ready()
    client.rpush(f"{{{prefix}}}:bench-go", *range(len(children)))
    time.sleep(settings.warmup)
    cpu, wall = _redis_cpu(client), time.monotonic()
    time.sleep(settings.seconds)
    cpu, wall = _redis_cpu(client) - cpu, time.monotonic() - wall
    count = sum(child.result(timeout=60 + settings.seconds)["count"] for child in children)
    return {"per_core": count / cpu if cpu > 0 else 0.0, "busy": cpu / wall, "per_s": count / wall}


def run(settings: Settings, cores: Cores) -> Report:
    import redis

    report = Report(
        "redis_ceiling",
        f"4d. The ceiling of one Redis: {settings.ceiling_clients} client processes x {settings.ceiling_tasks}"
        " concurrent calls on the Redis store",
    )
    per_core = {
        "inbox": report.add(
            Series(
                f"inbox events per Redis core-second (append+claim+ack, {BATCH} at a time; baseline: INCR)",
                "1/s",
                baseline=[],
            )
        ),
        "dedupe": report.add(
            Series("duplicate appends per Redis core-second (baseline: INCR)", "1/s", baseline=[])
        ),
        "limiter": report.add(
            Series("limiter reservations per Redis core-second (baseline: INCR)", "1/s", baseline=[])
        ),
    }
    busy = {
        name: report.add(Series(f"Redis busy during {name} (share of one core)", "", higher_is_better=True))
        for name in per_core
    }
    rates = {name: report.add(Series(f"{name}: ops/s reached", "1/s")) for name in per_core}
    c_per_core = {
        name: report.add(
            Series(
                f"{name} per Redis core-second, C client pipelined (baseline: INCR so)", "1/s", baseline=[]
            )
        )
        for name in ("append", "dedupe", "limiter")
    }
    c_busy = {
        name: report.add(Series(f"Redis busy during {name}, C client (share of one core)", ""))
        for name in c_per_core
    }
    prefix = "bench-ceiling"
    with _redis_server() as url:
        store_url = f"{url}?prefix={prefix}"
        client = redis.Redis.from_url(url)
        for _ in range(settings.rounds):
            baseline = measure("incr", settings, client, store_url, prefix)
            for name, series in per_core.items():
                found = measure(name, settings, client, store_url, prefix)
                assert series.baseline is not None
                series.ours.append(found["per_core"])
                series.baseline.append(baseline["per_core"])
                busy[name].ours.append(found["busy"])
                rates[name].ours.append(found["per_s"])
            c_baseline = _c_client(url, client, "incr", settings.ceiling_requests)
            for name, series in c_per_core.items():
                found = _c_client(url, client, name, settings.ceiling_requests)
                assert series.baseline is not None
                series.ours.append(found["per_core"])
                series.baseline.append(c_baseline["per_core"])
                c_busy[name].ours.append(found["busy"])
        client.close()
    inbox = Series.summary(per_core["inbox"].ours)["median"]
    report.bars.append(
        Bar("one Redis core handles >= 5,000 inbox events/s", f"{inbox:,.0f}/s", inbox >= 5000)
    )
    report.notes.append(
        "per core = operations in the window / CPU seconds of Redis's main thread in it (INFO cpu); Redis"
        " runs unpinned beside the clients, on a machine shared with other work"
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--workload", choices=WORKLOADS, required=True)
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--warmup", type=float, required=True)
    parser.add_argument("--window", type=float, required=True)
    parser.add_argument("--index", type=int, required=True)
    args = parser.parse_args()
    emit_result(
        run_on_loop("uvloop", _drive(args.store, args.workload, args.tasks, args.warmup, args.window))
    )


if __name__ == "__main__":
    main()
