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

import functools
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from tests.benchmarks import loadgen, peers, servers
from tests.benchmarks.emulator_client import Emulator
from tests.benchmarks.harness import (
    Bar,
    Child,
    Cores,
    Report,
    Series,
    Settings,
    StealMeter,
    abba,
    loop_for,
    loop_pairs,
    running,
)
from tests.benchmarks.peers import Peer

__all__ = ["RATIO_BAR", "measure", "run"]

RATIO_BAR = 0.9
CPU_BAR = 1.2
"""CPU per effect against raw aiohttp's, 64 concurrent."""
CPU_ONE_BAR = 1.3
"""CPU per effect against raw aiohttp's, one connection."""
LATENCY_ONE_BAR = 1.2
"""p50 webhook -> provider post against raw aiohttp's, one connection."""
CONCURRENT = 64
STEPS_RATIO_BAR = 0.9
"""End to end with each provider call journaled as a step, against the same service with steps off."""
WARMUP_EVENTS = 300


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
    connections: int,
) -> dict[str, Any]:
    """N webhooks through a started server; completed provider calls per second, CPU per call, latency, and the
    share of the server core's time the hypervisor gave other guests meanwhile."""
    with running(server):
        steal = StealMeter(cores.server)
        sent = loadgen.drive(
            port,
            connections,
            cores.load,
            *("--count", str(events), "--chat-id", chat_id, "--path", path),
        )
        done = emulator.wait_for_messages(events, timeout=60 + events / 100)
        stolen_share = steal.share()
        served = server.stop() or {}
    if sent["statuses"].get("202", 0) != events:
        raise RuntimeError(f"{name}: not every webhook was answered 202: {sent['statuses']}")
    elapsed = done["last_at"] - sent["started"]
    latency = done.get("latency_ms") or {}
    return {
        "rate": events / elapsed,
        "elapsed": elapsed,
        "ack_rate": sent["rate"],
        "messages": done["messages"],
        "handed_over": served.get("handed_over", 0),
        "cpu_us": served.get("cpu", float("nan")) / events * 1e6,
        "cpu_system_us": served.get("cpu_system", float("nan")) / events * 1e6,
        "p50_ms": latency.get("p50", float("nan")),
        "p99_ms": latency.get("p99", float("nan")),
        "steal_pct": 100 * stolen_share,
    }


def measure(
    variant: str,
    events: int,
    emulator: Emulator,
    chat_id: str,
    settings: Settings,
    cores: Cores,
    *,
    loop: str,
    connections: int,
    steps: bool = True,
) -> dict[str, Any]:
    """N webhooks through one fresh server; completed provider calls per second."""
    emulator.reset_counters()
    with tempfile.TemporaryDirectory(prefix="chatwright-bench-") as directory:
        server, port = servers.start(
            variant, cores.server, db=Path(directory), emulator=emulator.url, loop=loop, steps=steps
        )
        return _send(
            variant, server, port, servers.PATH, events, emulator, chat_id, settings, cores, connections
        )


def measure_peer(
    peer: Peer,
    events: int,
    emulator: Emulator,
    chat_id: str,
    settings: Settings,
    cores: Cores,
    *,
    loop: str,
    connections: int,
) -> dict[str, Any]:
    """The same through a fresh server of a peer (on the server core, as the others)."""
    emulator.reset_counters()
    server, port, path = peers.start(peer, cores.server, emulator=emulator.url, loop=loop)
    return _send(peer.name, server, port, path, events, emulator, chat_id, settings, cores, connections)


@attrs.define
class _Pair:
    """The series of one event loop: chatwright against raw aiohttp (and the peers) on that loop."""

    loop: str
    rate: Series
    cpu: Series
    kernel: Series
    """The kernel's part of CPU per effect (system time)."""
    latency: Series
    p99: Series
    steal: Series
    """The share of the server core's time the hypervisor gave other guests during each side's window."""
    grouped_rate: Series
    """raw aiohttp that keeps each delivery durable by group commit before its call (servers.py's `grouped`)
    against raw aiohttp, 64 concurrent."""
    grouped_cpu: Series
    grouped_p50: Series
    one_rate: Series
    one_cpu: Series
    one_p50: Series
    floor_p50: Series
    """raw aiohttp with an fsynced insert before its call (servers.py's `durable`) against raw aiohttp."""
    floor_cpu: Series
    peer_rates: list[Series]
    peer_cpus: list[Series]
    peer_p50s: list[Series]
    peer_p99s: list[Series]

    @classmethod
    def add_to(cls, report: Report, loop: str, ready: list[Peer]) -> _Pair:
        def series(label: str, unit: str, higher: bool = True, comparable: bool = True) -> Series:
            return report.add(
                Series(f"{label}, {loop}", unit, baseline=[], higher_is_better=higher, comparable=comparable)
            )

        return cls(
            loop=loop,
            rate=series(f"effects/s, {CONCURRENT} concurrent", "1/s"),
            cpu=series(f"CPU per effect, {CONCURRENT} concurrent", "us", False),
            kernel=series(f"of which in the kernel, {CONCURRENT} concurrent", "us", False),
            latency=series(f"p50 webhook -> provider post, {CONCURRENT} concurrent", "ms", False),
            p99=series(f"p99 webhook -> provider post, {CONCURRENT} concurrent", "ms", False),
            steal=series(
                f"server core's time stolen by the hypervisor, {CONCURRENT} concurrent", "%", False, False
            ),
            grouped_rate=series(f"effects/s, {CONCURRENT} concurrent, durable floor (group commit)", "1/s"),
            grouped_cpu=series(
                f"CPU per effect, {CONCURRENT} concurrent, durable floor (group commit)", "us", False
            ),
            grouped_p50=series(
                f"p50 webhook -> provider post, {CONCURRENT} concurrent, durable floor (group commit)",
                "ms",
                False,
            ),
            one_rate=series("effects/s, one connection", "1/s"),
            one_cpu=series("CPU per effect, one connection", "us", False),
            one_p50=series("p50 webhook -> provider post, one connection", "ms", False),
            floor_p50=series("p50 webhook -> provider post, one connection, durable floor", "ms", False),
            floor_cpu=series("CPU per effect, one connection, durable floor", "us", False),
            peer_rates=[series(f"effects/s, {CONCURRENT} concurrent, {peer.name}", "1/s") for peer in ready],
            peer_cpus=[
                series(f"CPU per effect, {CONCURRENT} concurrent, {peer.name}", "us", False) for peer in ready
            ],
            peer_p50s=[
                series(f"p50 webhook -> provider post, {CONCURRENT} concurrent, {peer.name}", "ms", False)
                for peer in ready
            ],
            peer_p99s=[
                series(f"p99 webhook -> provider post, {CONCURRENT} concurrent, {peer.name}", "ms", False)
                for peer in ready
            ],
        )


def _append(series: Series, ours: float, base: float) -> None:
    assert series.baseline is not None
    series.ours.append(ours)
    series.baseline.append(base)


def _median_ratio(series: Series) -> float:
    """The median ratio; NaN when no round has one (a CPU time of 0 at tiny sizes), which meets no bar."""
    return Series.summary(series.ratios).get("median", float("nan"))


def _bars(report: Report, pair: _Pair, ready: list[Peer]) -> None:
    loop = pair.loop
    ratio = _median_ratio(pair.rate)
    report.bars.append(
        Bar(
            f"{loop}: effects/s >= {RATIO_BAR} x raw aiohttp, {CONCURRENT} concurrent",
            f"{ratio:.2f}",
            ratio >= RATIO_BAR,
        )
    )
    for peer, peer_rate in zip(ready, pair.peer_rates, strict=True):
        versus = [o / t for o, t in zip(pair.rate.ours, peer_rate.ours, strict=True) if t]
        ahead = Series.summary(versus)["median"]
        report.bars.append(
            Bar(
                f"{loop}: ahead of {peer.name} (chatwright / {peer.name} effects/s > 1)",
                f"{ahead:.2f} ({min(versus):.2f}-{max(versus):.2f})",
                ahead > 1.0,
            )
        )
    for series, bar in ((pair.cpu, CPU_BAR), (pair.one_cpu, CPU_ONE_BAR), (pair.one_p50, LATENCY_ONE_BAR)):
        value = _median_ratio(series)
        report.bars.append(
            Bar(
                f"{loop}: {series.label.rsplit(', ', 1)[0]} <= {bar} x raw aiohttp",
                f"{value:.2f}",
                value <= bar,
            )
        )


def run(settings: Settings, cores: Cores) -> Report:
    report = Report("e2e", "2. End to end (webhook -> handler -> post_message on the RoostedHR emulator)")
    ready, skipped = peers.prepare(settings.peers)
    pairs = [_Pair.add_to(report, loop, ready) for loop in loop_pairs(settings)]
    journal = report.add(Series("provider calls completed/s, steps on vs steps off", "1/s", baseline=[]))
    handed_over: list[float] = []
    emulator = Emulator(cores.load)
    try:
        (chat_id,) = emulator.chats(1)
        warm = min(WARMUP_EVENTS, settings.e2e_events or WARMUP_EVENTS)
        first = pairs[0].loop

        def side(
            variant: str, n: int, loop: str, connections: int, steps: bool = True
        ) -> Callable[[], dict[str, Any]]:
            return functools.partial(
                measure,
                variant,
                n,
                emulator,
                chat_id,
                settings,
                cores,
                loop=loop,
                connections=connections,
                steps=steps,
            )

        side("ours", warm, first, CONCURRENT)()
        calibration = side("baseline", warm, first, CONCURRENT)()
        calibration_one = side("baseline", warm // 3, first, 1)()
        for peer in ready:
            measure_peer(peer, warm, emulator, chat_id, settings, cores, loop=first, connections=CONCURRENT)
        events = settings.e2e_events or max(1000, int(calibration["rate"] * settings.seconds))
        events_one = settings.e2e_events or max(300, int(calibration_one["rate"] * settings.seconds / 2))
        for index in range(settings.rounds):
            for pair in pairs:
                ours, base = abba(
                    index,
                    side("ours", events, pair.loop, CONCURRENT),
                    side("baseline", events, pair.loop, CONCURRENT),
                )
                _append(pair.rate, ours["rate"], base["rate"])
                _append(pair.cpu, ours["cpu_us"], base["cpu_us"])
                _append(pair.kernel, ours["cpu_system_us"], base["cpu_system_us"])
                _append(pair.latency, ours["p50_ms"], base["p50_ms"])
                _append(pair.p99, ours["p99_ms"], base["p99_ms"])
                _append(pair.steal, ours["steal_pct"], base["steal_pct"])
                handed_over.append(ours["handed_over"] / events)
                grouped = side("grouped", events, pair.loop, CONCURRENT)()
                _append(pair.grouped_rate, grouped["rate"], base["rate"])
                _append(pair.grouped_cpu, grouped["cpu_us"], base["cpu_us"])
                _append(pair.grouped_p50, grouped["p50_ms"], base["p50_ms"])
                for at, peer in enumerate(ready):
                    theirs = measure_peer(
                        peer,
                        events,
                        emulator,
                        chat_id,
                        settings,
                        cores,
                        loop=pair.loop,
                        connections=CONCURRENT,
                    )
                    _append(pair.peer_rates[at], theirs["rate"], base["rate"])
                    _append(pair.peer_cpus[at], theirs["cpu_us"], base["cpu_us"])
                    _append(pair.peer_p50s[at], theirs["p50_ms"], base["p50_ms"])
                    _append(pair.peer_p99s[at], theirs["p99_ms"], base["p99_ms"])
                ours, base = abba(
                    index, side("ours", events_one, pair.loop, 1), side("baseline", events_one, pair.loop, 1)
                )
                _append(pair.one_rate, ours["rate"], base["rate"])
                _append(pair.one_cpu, ours["cpu_us"], base["cpu_us"])
                _append(pair.one_p50, ours["p50_ms"], base["p50_ms"])
                floor = side("durable", events_one, pair.loop, 1)()
                _append(pair.floor_p50, floor["p50_ms"], base["p50_ms"])
                _append(pair.floor_cpu, floor["cpu_us"], base["cpu_us"])
            # Steps on against off, on the shipped loop: a pair of its own, in ABBA order too.
            shipped = loop_for(settings)
            steps_on, steps_off = abba(
                index,
                side("ours", events, shipped, CONCURRENT),
                side("ours", events, shipped, CONCURRENT, steps=False),
            )
            _append(journal, steps_on["rate"], steps_off["rate"])
    finally:
        emulator.stop()
    for pair in pairs:
        _bars(report, pair, ready)
    steps_ratio = _median_ratio(journal)
    report.bars.append(
        Bar("steps on / steps off >= 0.9", f"{steps_ratio:.2f}", steps_ratio >= STEPS_RATIO_BAR)
    )
    report.notes.append(
        f"{events} webhooks per round over {CONCURRENT} connections and {events_one} over one; the worker runs in"
        " the service (concurrency 64); every webhook answered 202 and every message stored (checked); both"
        " sides of each pair on the named loop, orjson on both"
    )
    report.notes.append(
        "effects/s = N / (last message stored - first webhook sent), read from the emulator; CPU per effect ="
        " the server process's CPU time (user + system, all threads) from ready to stop / N; latency = the"
        " provider post's arrival at the emulator - the webhook's send, per message"
    )
    report.notes.append(
        "stolen by the hypervisor: /proc/stat's steal on the server core over each window (first webhook sent ->"
        " last message stored), the time the host gave other guests while that core had work; CPU per effect"
        " does not count it, effects/s does, so a round whose sides were stolen from unevenly has a skewed ratio"
    )
    report.notes.append(
        f"{Series.summary(handed_over)['median']:.0%} of the events were handed straight to a free handler slot;"
        " the rest went through the inbox, where the webhooks arriving faster than the calls complete wait"
    )
    report.notes.append(
        "durable floor (one connection): raw aiohttp that inserts each delivery into a SQLite file (WAL,"
        " synchronous=FULL) and commits it, fsync included, on the loop before its provider call - the least any"
        " service that keeps accepted events through a power loss adds with one webhook in flight; its rows"
        " compare it with raw aiohttp, as chatwright's do"
    )
    report.notes.append(
        f"durable floor (group commit, {CONCURRENT} concurrent): raw aiohttp that, before its provider call, waits"
        " until its delivery is inserted into a SQLite file and an fsync of the log covers the commit; the"
        " deliveries in flight share transactions and fsyncs (tests.benchmarks.group_commit) - what keeping"
        " accepted events through a power loss costs with nothing else: no dedupe, claim, ack, history, step"
        " journal or framework. chatwright's effects/s against it, per round: "
        + "; ".join(
            f"{pair.loop} {Series.summary(ratios)['median']:.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
            for pair in pairs
            if (ratios := [o / g for o, g in zip(pair.rate.ours, pair.grouped_rate.ours, strict=True) if g])
        )
    )
    report.notes += peers.notes(ready, skipped)
    for peer in ready:
        report.notes.append(f"{peer.name}: {peer.spec.call}")
    return report
