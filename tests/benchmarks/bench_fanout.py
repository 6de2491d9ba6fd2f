"""Benchmark 4, fan-out under a rate limit: one event posts to 1,000 chats on an emulator that allows R requests/s.

The RoostedHR emulator (its own process, load core) answers 429 beyond R requests in any sliding second; the
`roosted` adapter is configured with `rate_limit = R`. A child process on the server core runs the service's
runtime with a handler that posts one message to every chat of the event concurrently. A round appends the
event and waits for it to be handled; then the emulator's recorded requests are checked: every chat has exactly
one message, every POST it recorded was for a different chat (no message twice), and the handler saw no 429.
The achieved rate is messages / (last message stored - event appended); the baseline is R itself.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.runtime import Runtime
from framework.worker import Disposition
from tests.benchmarks.delivery import delivery_figures, delivery_problem
from tests.benchmarks.emulator_client import Emulator
from tests.benchmarks.harness import Bar, Cores, Report, Series, Settings, emit_result, run_on_loop, spawn

if TYPE_CHECKING:
    from framework.runtime import Runtime
    from framework.worker import Disposition

__all__ = ["RATE_BAR", "fanout_runtime", "run"]

RATE_BAR = 0.95


def fanout_runtime(
    store_url: str, emulator_url: str, rate: float, directory: Path
) -> tuple[Runtime, asyncio.Event, list[Disposition]]:
    """A runtime with the fan-out handler and a rate-limited `roosted` adapter on the emulator; the event is set
    once an event is handled, and the list holds what the worker did with each. (Imported here, in the child
    process that serves, like the other imports of the framework in the benchmarks.)"""
    from framework.config import config_from_dict
    from framework.runtime import Runtime
    from tests.benchmarks.plugins import fanout_plugin

    config = config_from_dict(
        {
            "store": {"url": store_url},
            "adapters": {
                "roosted": {
                    "provider": "roostedhr",
                    "base_url": emulator_url,
                    "api_key": "test-key",
                    "worker_id": "3158",
                    "rate_limit": rate,
                }
            },
            "plugins": {"entry_points": False},
        },
        directory / "bench.toml",
        "bench.toml",
        {},
    )
    finished = asyncio.Event()
    outcomes: list[Disposition] = []

    def record(disposition: Disposition) -> None:
        outcomes.append(disposition)
        finished.set()

    runtime = Runtime(config, plugins=[fanout_plugin("roosted")], listeners=[record], with_schedules=False)
    return runtime, finished, outcomes


async def _fan_out(emulator_url: str, chats: int, rate: float, db: Path) -> dict[str, Any]:
    import aiohttp

    from framework.errors import RateLimited
    from framework.events import new_event

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{emulator_url}/_emulator/bench-chats", json={"count": chats}) as answer:
            chat_ids: list[str] = (await answer.json())["chat_ids"]
        async with session.post(f"{emulator_url}/_emulator/bench-reset", json={}) as answer:
            await answer.read()
    runtime, finished, outcomes = fanout_runtime(f"sqlite:///{db / 'bench.db'}", emulator_url, rate, db)
    await runtime.start()
    started = time.monotonic()
    await runtime.store.append(new_event("bench.fanout", {"chat_ids": chat_ids}))
    await finished.wait()
    handled = time.monotonic()
    await runtime.stop()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{emulator_url}/_emulator/bench-delivery") as answer:
            delivery = await answer.json()
        async with session.get(f"{emulator_url}/_emulator/bench-stats") as answer:
            stats = await answer.json()
    failures = [f for d in outcomes for f in d.outcome.failures]
    return {
        "action": outcomes[0].action,
        "handler_429s": sum(isinstance(f.error, RateLimited) for f in failures),
        "failures": [f"{f.handler}: {type(f.error).__name__}: {f.error}" for f in failures][:3],
        **delivery_figures(delivery, chat_ids),
        "achieved": stats["messages"] / (stats["last_at"] - started) if stats["messages"] else 0.0,
        "steady": (stats["messages"] - 1) / (stats["last_at"] - stats["first_at"])
        if stats["messages"] > 1
        else 0,
        "handled_after": handled - started,
    }


def measure(emulator: Emulator, settings: Settings, cores: Cores) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="chatwright-bench-") as directory:
        args = ["--emulator", emulator.url, "--chats", str(settings.fanout_chats)]
        args += ["--rate", str(settings.fanout_rate), "--db", directory]
        child = spawn("tests.benchmarks.bench_fanout", *args, cpus=cores.server, name="fan-out")
        return child.result(timeout=120 + 5 * settings.fanout_chats / settings.fanout_rate)


def run(settings: Settings, cores: Cores) -> Report:
    rate = settings.fanout_rate
    report = Report(
        "fanout", f"4. Fan-out: 1 event -> {settings.fanout_chats} chats, emulator limited to {rate:g}/s"
    )
    achieved = report.add(Series("messages/s achieved (baseline: R)", "1/s", baseline=[]))
    throttled = report.add(Series("429s answered by the emulator", "", higher_is_better=False))
    problems: list[str] = []
    emulator = Emulator(cores.load, rate_limit=rate)
    try:
        for _ in range(settings.rounds):
            found = measure(emulator, settings, cores)
            time.sleep(1.0)  # let the emulator's sliding window empty before the next round
            assert achieved.baseline is not None
            achieved.ours.append(found["achieved"])
            achieved.baseline.append(rate)
            throttled.ours.append(found["emulator_429s"])
            if found["action"] != "done" or found["handler_429s"]:
                problems.append(f"handler failed: {found['failures']}")
            problem = delivery_problem(found, settings.fanout_chats)
            if problem:
                problems.append(problem)
    finally:
        emulator.stop()
    ratio = Series.summary(achieved.ratios)["median"]
    report.bars.append(Bar("achieved rate >= 0.95 R", f"{ratio:.3f} R", ratio >= RATE_BAR))
    report.bars.append(Bar.no_problems("no 429 reaches a handler", problems, "none"))
    report.bars.append(
        Bar("every message delivered exactly once", "yes (emulator state and recorded POSTs)", not problems)
    )
    report.notes.append(
        "achieved = messages stored / (last message stored - event appended), read from the emulator;"
        " the handler posts to all chats at once with asyncio.gather and the adapter's limiter paces them"
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", required=True)
    parser.add_argument("--chats", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--db", default=".")
    args = parser.parse_args()
    emit_result(run_on_loop("asyncio", _fan_out(args.emulator, args.chats, args.rate, Path(args.db))))


if __name__ == "__main__":
    main()
