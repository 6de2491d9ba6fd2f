"""Benchmark 8, conversations: what watching chats costs, and how soon the bot answers what people write.

The RoostedHR emulator runs in a child process on the load core, rate limited to RATE requests a second (RoostedHR
documents no limit; this stands for one), with N chats (1,000 by default) that the bot watches.

1. Watching: one poll of the N chats when nothing was written (the steady state), by chatwright's poller (a
   cursor read per chat from the SQLite store, one `GET .../messages` through the adapter, paced by its limiter
   at RATE), against the baseline of the same N requests made by the adapter's client alone in a loop, through
   the same limiter. Figures: CPU per chat per poll (ours / baseline), the pass's request rate (which must stay
   within RATE: no 429 may come back), and CPU per watched chat per minute at the default 10 s interval - or at
   one pass after another when a pass takes longer than that.
2. Latency: a person writes a message into one of the chats (the emulator's `/_emulator/messages`) and an echo
   handler replies; message-to-reply time is the reply's `date_created` less the message's (the emulator stamps
   both). Ours: the message found by the poller (interval 1 s); baseline: the same message pushed, i.e. its
   `chat.message` event appended to the inbox as soon as it was written (what DevRev's webhook route does).

    .venv/bin/python -m tests.benchmarks.run --only conversations
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.benchmarks.harness import Bar, Cores, Report, Series, Settings, run_on_loop, spawn

__all__ = ["run"]

RATE = 200.0
"""Requests a second the emulator answers (and the adapter is configured to send) at most."""
PERSON = "120915"
DEFAULT_INTERVAL = 10.0
LATENCY_INTERVAL = 1.0


def _runtime(tmp: Path, base_url: str, chats: list[str], interval: float) -> Any:
    from framework import Context, Event, Plugin
    from framework.config import config_from_dict
    from framework.runtime import Runtime

    plugin = Plugin("echo")

    @plugin.message()
    async def echo(event: Event, ctx: Context) -> None:
        await ctx.reply(f"echo: {ctx.message.message_id}")

    raw = {
        "store": {"url": f"sqlite:///{tmp / 'bench.db'}"},
        "adapters": {
            "roosted": {
                "provider": "roostedhr",
                "base_url": base_url,
                "api_key": "test-key",
                "worker_id": "3158",
                "rate_limit": RATE,
            }
        },
        "conversations": {"poll_interval": interval, "watch": {"roosted": chats}},
        "plugins": {"entry_points": False},
    }
    return Runtime(config_from_dict(raw, tmp / "bench.toml", "bench.toml", {}), plugins=[plugin])


async def _stats(session: aiohttp.ClientSession, base_url: str) -> dict[str, Any]:
    async with session.get(f"{base_url}/_emulator/bench-stats") as response:
        found: dict[str, Any] = await response.json()
        return found


async def _watching(base_url: str, chats: list[str], rounds: int) -> dict[str, list[float]]:
    """Per round: CPU seconds per chat (ours, baseline), our pass's request rate, 429s seen."""
    # process_time: this process's CPU (the emulator runs in its own), finer than os.times()' 10 ms ticks
    figures: dict[str, list[float]] = {"ours": [], "baseline": [], "rate": [], "throttled": []}
    with tempfile.TemporaryDirectory(prefix="bench-conversations-") as tmp:
        runtime = _runtime(Path(tmp), base_url, chats, DEFAULT_INTERVAL)
        runtime.auto_poll = False
        await runtime.start(worker=False)
        poller, client = runtime.poller, runtime.providers["roosted"].client
        assert poller is not None
        await poller.poll("roosted")  # the first poll sets each configured chat's cursor
        async with aiohttp.ClientSession() as session:
            before = (await _stats(session, base_url))["throttled"]
            for _ in range(rounds):
                started, cpu = time.perf_counter(), time.process_time()
                report = await poller.poll("roosted")
                ours_cpu, wall = time.process_time() - cpu, time.perf_counter() - started
                assert report.chats == len(chats) and not report.paused, report
                cpu = time.process_time()
                for chat in chats:
                    await client.list_messages(chat, limit=20)
                figures["ours"].append(ours_cpu / len(chats))
                figures["baseline"].append((time.process_time() - cpu) / len(chats))
                figures["rate"].append(len(chats) / wall)
            figures["throttled"].append(float((await _stats(session, base_url))["throttled"] - before))
        await runtime.stop()
    return figures


async def _write(session: aiohttp.ClientSession, base_url: str, chat: str, text: str) -> dict[str, Any]:
    body = {"chat_id": chat, "sender_id": PERSON, "text": text}
    async with session.post(f"{base_url}/_emulator/messages", json=body) as response:
        found: dict[str, Any] = (await response.json())["message"]
        return found


async def _latencies(
    base_url: str, chats: list[str], messages: int, window: float, *, push: bool
) -> list[float]:
    """Message-to-reply seconds for `messages` messages written at random moments over about `window` seconds
    (so at every phase of the poll interval) into random chats."""
    from adapters.roostedhr.models import RoostedMessage
    from framework.messages import message_event, message_ordering_key

    rng = random.Random(7)
    written: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-conversations-") as tmp:
        runtime = _runtime(Path(tmp), base_url, chats, LATENCY_INTERVAL)
        runtime.auto_poll = not push
        await runtime.start()
        provider, poller = runtime.providers["roosted"], runtime.poller
        if push:
            await poller.poll("roosted")  # cursors set: the poller would find nothing new
        else:
            await _until(lambda: _all_polled(poller, chats))
        async with aiohttp.ClientSession() as session:
            for index in range(messages):
                chat = rng.choice(chats)
                raw = await _write(session, base_url, chat, f"m{index}")
                written[raw["id"]] = chat
                if push:
                    message = provider.inbound(chat, provider.client.converter.structure(raw, RoostedMessage))
                    event = message_event(message, source="bench-push")
                    await runtime.worker.append(event, ordering_key=message_ordering_key(message))
                await asyncio.sleep(rng.uniform(0, 2 * window / messages))
            lateness = await _until_replied(provider, written)
        await runtime.stop()
    return lateness


async def _all_polled(poller: Any, chats: list[str]) -> bool:
    """Every configured chat polled once (its cursor set): what is written from now on is delivered."""
    return all([await poller.cursors.get("roosted", chat) is not None for chat in chats])


async def _until(condition: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark's condition did not come true")
        await asyncio.sleep(0.05)


async def _until_replied(provider: Any, written: dict[str, str], timeout: float = 120.0) -> list[float]:
    """Wait until every written message has its echo; message-to-reply seconds by the emulator's stamps."""
    deadline = time.monotonic() + timeout
    while True:
        sent: dict[str, Any] = {}
        replies: dict[str, Any] = {}
        for chat in set(written.values()):
            page = await provider.client.list_messages(chat, limit=100)
            for message in page.messages:
                if message.sender_id == PERSON:
                    sent[message.id] = message.date_created
                elif message.message.startswith("echo: "):
                    replies[message.message.removeprefix("echo: ")] = message.date_created
        if all(message_id in replies for message_id in written):
            return [(replies[m] - sent[m]).total_seconds() for m in written]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(written) - len(replies)} message(s) got no reply")
        await asyncio.sleep(0.2)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _measure(settings: Settings, base_url: str) -> dict[str, Any]:
    watched, messages = settings.conversation_chats, settings.conversation_messages
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base_url}/_emulator/bench-chats", json={"count": watched}) as response,
    ):
        chats: list[str] = (await response.json())["chat_ids"]
    watching = await _watching(base_url, chats, settings.rounds)
    polled: list[list[float]] = []
    pushed: list[list[float]] = []
    sample = chats[: min(len(chats), 50)]
    for _ in range(settings.rounds):
        polled.append(await _latencies(base_url, sample, messages, settings.seconds, push=False))
        pushed.append(await _latencies(base_url, sample, messages, settings.seconds, push=True))
    return {"chats": watched, "watching": watching, "polled": polled, "pushed": pushed}


def run(settings: Settings, placement: Cores) -> Report:
    emulator = spawn(
        "tests.benchmarks.emulator", "--rate-limit", str(RATE), cpus=placement.load, name="emulator"
    )
    try:
        base_url = f"http://127.0.0.1:{emulator.ready()['port']}"
        found = run_on_loop("uvloop", _measure(settings, base_url))
    finally:
        emulator.stop()
    return _report(found)


def _report(found: dict[str, Any]) -> Report:
    chats, watching = found["chats"], found["watching"]
    report = Report(
        key="conversations", title=f"conversations ({chats} watched RoostedHR chats, {RATE:g} req/s)"
    )
    report.add(
        Series(
            "CPU per chat per poll (nothing new)",
            "us",
            [v * 1e6 for v in watching["ours"]],
            [v * 1e6 for v in watching["baseline"]],
            higher_is_better=False,
        )
    )
    report.add(Series("requests per second during a pass", "req/s", watching["rate"]))
    pass_seconds = chats / statistics.median(watching["rate"])
    interval = max(DEFAULT_INTERVAL, pass_seconds)
    per_minute = [v * 1e3 * 60 / interval for v in watching["ours"]]
    report.add(Series("CPU per watched chat per minute", "ms", per_minute, higher_is_better=False))
    polled = [_percentile(r, 0.5) * 1e3 for r in found["polled"]]
    pushed = [_percentile(r, 0.5) * 1e3 for r in found["pushed"]]
    report.add(
        Series("message-to-reply p50 (poll 1 s vs push)", "ms", polled, pushed, higher_is_better=False)
    )
    polled99 = [_percentile(r, 0.99) * 1e3 for r in found["polled"]]
    pushed99 = [_percentile(r, 0.99) * 1e3 for r in found["pushed"]]
    report.add(
        Series("message-to-reply p99 (poll 1 s vs push)", "ms", polled99, pushed99, higher_is_better=False)
    )
    throttled = int(sum(watching["throttled"]))
    top = max(watching["rate"])
    report.bars.append(
        Bar(
            f"watching {chats} chats stays within the provider's rate limit ({RATE:g} req/s)",
            f"fastest pass {top:.0f} req/s, {throttled} 429s",
            top <= RATE * 1.05 and throttled == 0,
        )
    )
    report.notes.append(
        f"one pass over {chats} chats takes {pass_seconds:.1f} s at the adapter's rate limit, so they are polled"
        f" every {interval:g} s; the per-minute figure is at that interval"
    )
    return report
