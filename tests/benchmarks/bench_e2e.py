"""Benchmark 2, end to end: webhook -> handler -> one `post_message` on the RoostedHR emulator.

A round sends a fixed number N of signed webhooks over 64 connections and waits until the emulator has stored
N messages; the figure is N / (last message stored - first webhook sent), completed provider calls per second.
chatwright acknowledges each webhook once it is in the inbox and its worker makes the call; the baseline makes
the same call inline, on one shared ClientSession, before answering. The emulator runs in its own process on
the load generator's core, so the server core does nothing but the system under test. Each round also runs
chatwright with steps on and with steps off (its handler's call not journaled) as a pair of its own, in ABBA
order, for the cost of the step journal. With `--peers`
(tests.benchmarks.peers), each peer's server, whose handler makes the baseline's call inline too, runs right
after the baseline in every round with the same N, and its figure is given against that same baseline.
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.benchmarks import loadgen, peers, servers
from tests.benchmarks.harness import (
    Bar,
    Child,
    Cores,
    Report,
    Series,
    Settings,
    abba,
    loop_for,
    running,
    spawn,
)
from tests.benchmarks.peers import Peer

__all__ = ["RATIO_BAR", "Emulator", "run"]

RATIO_BAR = 0.9
STEPS_RATIO_BAR = 0.9
"""End to end with each provider call journaled as a step, against the same service with steps off."""
WARMUP_EVENTS = 300


class Emulator:
    """The RoostedHR emulator process (tests.benchmarks.emulator) and its benchmark counters."""

    def __init__(
        self, cpus: frozenset[int] | None, rate_limit: float | None = None, latency: float = 0.0
    ) -> None:
        args = ["--rate-limit", str(rate_limit)] if rate_limit else []
        args += ["--latency", str(latency)] if latency else []
        self.child: Child = spawn("tests.benchmarks.emulator", *args, cpus=cpus, name="emulator")
        self.url = f"http://127.0.0.1:{self.child.ready()['port']}"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def chats(self, count: int) -> list[str]:
        ids: list[str] = self.call("POST", "/_emulator/bench-chats", {"count": count})["chat_ids"]
        return ids

    def stats(self) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", "/_emulator/bench-stats")
        return found

    def reset_counters(self) -> None:
        self.call("POST", "/_emulator/bench-reset", {})

    def wait_for_messages(self, count: int, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if stats["messages"] >= count:
                return stats
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the emulator stored {stats['messages']} of {count} messages in {timeout:.0f}s"
                )
            time.sleep(0.01)

    def stop(self) -> None:
        self.child.stop()


def _send(
    name: str,
    server: Child,
    port: int,
    path: str,
    events: int,
    emulator: Emulator,
    chat_id: str,
    settings: Settings,
    cores: Cores,
) -> dict[str, Any]:
    """N webhooks through a started server; completed provider calls per second."""
    with running(server):
        sent = loadgen.drive(
            port,
            settings.connections,
            cores.load,
            *("--count", str(events), "--chat-id", chat_id, "--path", path),
        )
        done = emulator.wait_for_messages(events, timeout=60 + events / 100)
        served = server.stop() or {}
    if sent["statuses"].get("202", 0) != events:
        raise RuntimeError(f"{name}: not every webhook was answered 202: {sent['statuses']}")
    elapsed = done["last_at"] - sent["started"]
    return {
        "rate": events / elapsed,
        "elapsed": elapsed,
        "ack_rate": sent["rate"],
        "messages": done["messages"],
        "handed_over": served.get("handed_over", 0),
    }


def measure(
    variant: str,
    events: int,
    emulator: Emulator,
    chat_id: str,
    settings: Settings,
    cores: Cores,
    *,
    steps: bool = True,
) -> dict[str, Any]:
    """N webhooks through one fresh server; completed provider calls per second."""
    emulator.reset_counters()
    with tempfile.TemporaryDirectory(prefix="chatwright-bench-") as directory:
        server, port = servers.start(
            variant,
            cores.server,
            db=Path(directory),
            emulator=emulator.url,
            loop=loop_for(settings, variant),
            steps=steps,
        )
        return _send(variant, server, port, servers.PATH, events, emulator, chat_id, settings, cores)


def measure_peer(
    peer: Peer, events: int, emulator: Emulator, chat_id: str, settings: Settings, cores: Cores
) -> dict[str, Any]:
    """The same through a fresh server of a peer (on the server core, as the others)."""
    emulator.reset_counters()
    server, port, path = peers.start(peer, cores.server, emulator=emulator.url)
    return _send(peer.name, server, port, path, events, emulator, chat_id, settings, cores)


def run(settings: Settings, cores: Cores) -> Report:
    report = Report("e2e", "2. End to end (webhook -> handler -> post_message on the RoostedHR emulator)")
    rate = report.add(Series("provider calls completed/s", "1/s", baseline=[]))
    ready, skipped = peers.prepare(settings.peers)
    peer_rates = [
        report.add(Series(f"provider calls completed/s, {peer.name}", "1/s", baseline=[])) for peer in ready
    ]
    journal = report.add(Series("provider calls completed/s, steps on vs steps off", "1/s", baseline=[]))
    handed_over: list[float] = []
    emulator = Emulator(cores.load)
    try:
        (chat_id,) = emulator.chats(1)
        warm = min(WARMUP_EVENTS, settings.e2e_events or WARMUP_EVENTS)
        measure("ours", warm, emulator, chat_id, settings, cores)
        calibration = measure("baseline", warm, emulator, chat_id, settings, cores)
        for peer in ready:
            measure_peer(peer, warm, emulator, chat_id, settings, cores)
        events = settings.e2e_events or max(1000, int(calibration["rate"] * settings.seconds))
        for index in range(settings.rounds):
            ours, base = abba(
                index,
                lambda: measure("ours", events, emulator, chat_id, settings, cores),
                lambda: measure("baseline", events, emulator, chat_id, settings, cores),
            )
            assert rate.baseline is not None
            rate.ours.append(ours["rate"])
            rate.baseline.append(base["rate"])
            handed_over.append(ours["handed_over"] / events)
            # Steps on against off: a pair of its own, in ABBA order too, so neither side always runs first.
            steps_on, steps_off = abba(
                index,
                lambda: measure("ours", events, emulator, chat_id, settings, cores),
                lambda: measure("ours", events, emulator, chat_id, settings, cores, steps=False),
            )
            assert journal.baseline is not None
            journal.ours.append(steps_on["rate"])
            journal.baseline.append(steps_off["rate"])
            for peer, peer_rate in zip(ready, peer_rates, strict=True):
                assert peer_rate.baseline is not None
                peer_rate.ours.append(measure_peer(peer, events, emulator, chat_id, settings, cores)["rate"])
                peer_rate.baseline.append(base["rate"])
    finally:
        emulator.stop()
    ratio = Series.summary(rate.ratios)["median"]
    report.bars.append(Bar("end-to-end ratio >= 0.9", f"{ratio:.2f}", ratio >= RATIO_BAR))
    steps_ratio = Series.summary(journal.ratios)["median"]
    report.bars.append(
        Bar("steps on / steps off >= 0.9", f"{steps_ratio:.2f}", steps_ratio >= STEPS_RATIO_BAR)
    )
    report.notes.append(
        f"{events} webhooks per round over {settings.connections} connections; the worker runs in the service"
        " (concurrency 64); every webhook answered 202 and every message stored (checked)"
    )
    report.notes.append(
        f"{Series.summary(handed_over)['median']:.0%} of the events were handed straight to a free handler slot;"
        " the rest went through the inbox, where the webhooks arriving faster than the calls complete wait"
    )
    report.notes += peers.notes(ready, skipped)
    for peer, peer_rate in zip(ready, peer_rates, strict=True):
        versus = [o / t for o, t in zip(rate.ours, peer_rate.ours, strict=True) if t]
        report.notes.append(
            f"chatwright / {peer.name}, provider calls completed/s in the same rounds:"
            f" {Series.summary(versus)['median']:.2f} ({min(versus):.2f}-{max(versus):.2f}); {peer.spec.call}"
        )
    return report
