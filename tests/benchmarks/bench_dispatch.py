"""Benchmark 3, dispatch overhead: events through inbox -> dispatcher -> one no-op handler, in one process.

Four ways, each a fresh child process on the server core:
- `pipeline`: 64 producers append N events (each append durable, synchronous=FULL) while the worker claims,
  dispatches and acks them; the clock runs from the first append to the last ack. This is "through the inbox".
- `handover`: the same, but the producers append through `Worker.append`, as the webhook intake does: an event
  that finds a free handler slot (and nothing older waiting in the inbox) is committed already claimed and
  started at once, without a claim. Both are also run with 8 producers (light load: the worker keeps up), where
  events are handed over; with 64 the inbox always holds a backlog and they go through it, by design. With 8
  producers it is run once more with an ordering key on every event (64 keys, like 64 chats, as the shipped bots'
  routes set one): an event is handed over unless an event with its key is still in the inbox.
- `drain`: the N events are appended first (not timed); the clock runs while the worker empties the inbox.
- `plain`: the baseline, a plain loop awaiting the same no-op handler N times.
The events are made without ids, so their ids are chatwright's UUIDv7s, which sort by time; `pipeline` is run once
more with a random id on every event, as a webhook sender that makes random delivery ids gives them: each one's
dedupe key then lands on a page of its own.
The overhead per event is (1 / ours - 1 / plain) in microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from tests.benchmarks.harness import (
    Bar,
    Cores,
    Report,
    Series,
    Settings,
    emit_result,
    loop_for,
    run_on_loop,
    spawn,
)

__all__ = ["OVERHEAD_BAR_US", "run"]

OVERHEAD_BAR_US = 50.0
PRODUCERS = 64
LIGHT_PRODUCERS = 8
ORDERING_KEYS = 64


async def _ours(
    events: int, db: Path, mode: str, producers: int = PRODUCERS, keys: int = 0, random_ids: bool = False
) -> dict[str, Any]:
    from framework.config import config_from_dict
    from framework.events import new_event
    from framework.gc_tuning import tune_collector
    from framework.runtime import Runtime
    from tests.benchmarks.plugins import noop_plugin

    config = config_from_dict(
        {"store": {"url": f"sqlite:///{db / 'bench.db'}"}, "plugins": {"entry_points": False}},
        db / "bench.toml",
        "bench.toml",
        {},
    )
    # The collector's threshold as `chatwright run` sets it. Not its start-up freeze: the events made below
    # for the producers are alive at start-up here, unlike in a service.
    tune_collector(config.service.gc)
    finished = asyncio.Event()
    handled = [0]

    def count(_: Any) -> None:
        handled[0] += 1
        if handled[0] == events:
            finished.set()

    runtime = Runtime(
        config, plugins=[noop_plugin("bench.*")], providers={}, listeners=[count], with_schedules=False
    )
    batch = [
        (
            new_event("bench.tick", {"n": i, "chat_id": "c-1"}, id=uuid.uuid4().hex if random_ids else None),
            f"c-{i % keys}" if keys else None,
        )
        for i in range(events)
    ]
    shares = [batch[i::producers] for i in range(producers)]

    append = runtime.worker.append if mode == "handover" else runtime.store.append

    async def produce(share: list[tuple[Any, str | None]]) -> None:
        for event, ordering_key in share:
            await append(event, ordering_key=ordering_key)

    await runtime.open_store()
    if mode == "drain":
        await asyncio.gather(*(produce(share) for share in shares))
        started, cpu_started = time.perf_counter(), time.process_time()
        await runtime.start()
    else:
        await runtime.start()
        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.gather(*(produce(share) for share in shares))
    await finished.wait()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    commits = getattr(runtime.store, "commits", 0)
    handed_over = runtime.worker.handed_over
    await runtime.stop()
    return {
        "rate": events / elapsed,
        "elapsed": elapsed,
        "commits": commits,
        "cpu_share": cpu / elapsed,
        "cpu": cpu,
        "handed_over": handed_over,
    }


async def _plain(events: int) -> dict[str, Any]:
    from framework.events import new_event
    from tests.benchmarks.plugins import noop_plugin

    handler = noop_plugin("bench.*").handlers[0].fn
    batch = [new_event("bench.tick", {"n": i, "chat_id": "c-1"}) for i in range(events)]
    started = time.perf_counter()
    for event in batch:
        await handler(event, None)  # type: ignore[arg-type]  # the no-op never looks at its context
    elapsed = time.perf_counter() - started
    return {"rate": events / elapsed, "elapsed": elapsed, "commits": 0}


def measure(
    mode: str,
    events: int,
    cores: Cores,
    loop: str,
    producers: int = PRODUCERS,
    keys: int = 0,
    random_ids: bool = False,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="chatwright-bench-") as directory:
        args = ["--mode", mode, "--events", str(events), "--db", directory, "--loop", loop]
        args += ["--producers", str(producers), "--keys", str(keys)]
        if random_ids:
            args.append("--random-ids")
        child = spawn("tests.benchmarks.bench_dispatch", *args, cpus=cores.server, name=f"dispatch {mode}")
        return child.result()


def run(settings: Settings, cores: Cores) -> Report:
    report = Report("dispatch", "3. Dispatch overhead (inbox -> dispatcher -> one no-op handler)")
    pipeline = report.add(Series("events/s, appended while the worker runs", "1/s", baseline=[]))
    drain = report.add(Series("events/s, draining a full inbox", "1/s", baseline=[]))
    overhead = report.add(Series("overhead per event, appended while running", "us", higher_is_better=False))
    overhead_drain = report.add(Series("overhead per event, draining", "us", higher_is_better=False))
    # Process CPU time (both threads) per event: what other processes' load on the machine does not inflate.
    cpu_piped = report.add(Series("CPU per event, appended while running", "us", higher_is_better=False))
    cpu_drain = report.add(Series("CPU per event, draining", "us", higher_is_better=False))
    # What the ids cost: the same pipeline with a sender's random ids / with the UUIDv7s made for events without.
    random_ids = report.add(
        Series(
            "overhead per event, appended while running: random ids / generated ids",
            "us",
            baseline=[],
            higher_is_better=False,
        )
    )
    # These two compare chatwright with itself: overhead through Worker.append / overhead through store.append.
    handover, light, keyed = (
        report.add(
            Series(
                f"overhead per event, {label}: through the intake / the inbox",
                "us",
                baseline=[],
                higher_is_better=False,
            )
        )
        for label in (
            f"{PRODUCERS} producers",
            f"{LIGHT_PRODUCERS} producers",
            f"{LIGHT_PRODUCERS} producers, {ORDERING_KEYS} ordering keys",
        )
    )
    batch_sizes = []
    handed_share: dict[str, list[float]] = {"heavy": [], "light": [], "keyed": []}
    n = settings.dispatch_events
    for _ in range(settings.rounds):
        ours = measure("pipeline", n, cores, loop_for(settings, "ours"))
        base = measure("plain", n, cores, loop_for(settings, "baseline"))
        ours_random = measure("pipeline", n, cores, loop_for(settings, "ours"), random_ids=True)
        ours_drain = measure("drain", n, cores, loop_for(settings, "ours"))
        ours_handover = measure("handover", n, cores, loop_for(settings, "ours"))
        light_handover = measure("handover", n, cores, loop_for(settings, "ours"), LIGHT_PRODUCERS)
        light_inbox = measure("pipeline", n, cores, loop_for(settings, "ours"), LIGHT_PRODUCERS)
        keyed_handover = measure(
            "handover", n, cores, loop_for(settings, "ours"), LIGHT_PRODUCERS, ORDERING_KEYS
        )
        keyed_inbox = measure(
            "pipeline", n, cores, loop_for(settings, "ours"), LIGHT_PRODUCERS, ORDERING_KEYS
        )
        assert pipeline.baseline is not None and drain.baseline is not None
        assert handover.baseline is not None and light.baseline is not None and keyed.baseline is not None

        def overhead_us(result: dict[str, Any], base: dict[str, Any] = base) -> float:
            """Microseconds per event above the plain loop of this round."""
            return float((result["elapsed"] - base["elapsed"]) / n * 1e6)

        assert random_ids.baseline is not None
        random_ids.ours.append(overhead_us(ours_random))
        random_ids.baseline.append(overhead_us(ours))
        handover.ours.append(overhead_us(ours_handover))
        handover.baseline.append(overhead_us(ours))
        light.ours.append(overhead_us(light_handover))
        light.baseline.append(overhead_us(light_inbox))
        keyed.ours.append(overhead_us(keyed_handover))
        keyed.baseline.append(overhead_us(keyed_inbox))
        handed_share["heavy"].append(ours_handover["handed_over"] / n)
        handed_share["light"].append(light_handover["handed_over"] / n)
        handed_share["keyed"].append(keyed_handover["handed_over"] / n)
        pipeline.ours.append(ours["rate"])
        pipeline.baseline.append(base["rate"])
        drain.ours.append(ours_drain["rate"])
        drain.baseline.append(base["rate"])
        overhead.ours.append(overhead_us(ours))
        overhead_drain.ours.append(overhead_us(ours_drain))
        cpu_piped.ours.append(ours["cpu"] / n * 1e6)
        cpu_drain.ours.append(ours_drain["cpu"] / n * 1e6)
        batch_sizes.append(3 * n / max(1, ours["commits"]))
    drained = Series.summary(overhead_drain.ours)["median"]
    piped = Series.summary(overhead.ours)["median"]
    report.bars.append(
        Bar(
            "overhead < 50 us/event, claim -> dispatch -> ack", f"{drained:.1f} us", drained < OVERHEAD_BAR_US
        )
    )
    report.bars.append(
        Bar(
            "overhead < 50 us/event, append -> claim -> dispatch -> ack",
            f"{piped:.1f} us",
            piped < OVERHEAD_BAR_US,
        )
    )
    cpu = Series.summary(cpu_piped.ours)["median"]
    report.bars.append(
        Bar(
            "CPU < 50 us/event, append -> claim -> dispatch -> ack (process CPU time / events)",
            f"{cpu:.1f} us",
            cpu < OVERHEAD_BAR_US,
        )
    )
    report.notes.append(
        "through the intake, events handed over (started without a claim):"
        f" {Series.summary(handed_share['heavy'])['median']:.0%} with {PRODUCERS} producers,"
        f" {Series.summary(handed_share['light'])['median']:.0%} with {LIGHT_PRODUCERS},"
        f" {Series.summary(handed_share['keyed'])['median']:.0%} with {LIGHT_PRODUCERS} and ordering keys;"
        " the rest went through the inbox (a handler slot was busy, older events were waiting there, or an"
        " event with the same ordering key was)"
    )
    report.notes.append(
        f"{n} events per round, {PRODUCERS} concurrent producers, worker concurrency 64, SQLite synchronous=FULL;"
        f" about {Series.summary(batch_sizes)['median']:.0f} store operations (append, claim, ack) per commit"
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["pipeline", "drain", "handover", "plain"], required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--db", default=".")
    parser.add_argument("--producers", type=int, default=PRODUCERS)
    parser.add_argument("--keys", type=int, default=0, help="ordering keys, one per event in turn (0: none)")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="asyncio")
    parser.add_argument("--random-ids", action="store_true", help="a random id on every event, not a UUIDv7")
    args = parser.parse_args()
    if args.mode == "plain":
        work = _plain(args.events)
    else:
        work = _ours(args.events, Path(args.db), args.mode, args.producers, args.keys, args.random_ids)
    emit_result(run_on_loop(args.loop, work))


if __name__ == "__main__":
    main()
