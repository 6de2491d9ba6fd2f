"""Benchmark 1, durable ingest: standard-webhooks verification + JSON parse + inbox commit + 202, 64 connections.

Each round starts fresh server processes on the server core, one after the other: chatwright's service with its
worker stopped (intake alone: every event stays in the inbox), chatwright's service with its worker running a
no-op handler (the inbox drained as it fills), and the raw aiohttp baseline that verifies and parses but stores
nothing. The load generator, on the other core, keeps 64 deliveries in flight for the measured window. With
`--peers` (tests.benchmarks.peers), each peer's server runs right after the baseline in every round, and its
figures are given against that same baseline.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tests.benchmarks import loadgen, peers, servers
from tests.benchmarks.harness import Bar, Child, Cores, Report, Series, Settings, abba, loop_for, running
from tests.benchmarks.peers import Peer

__all__ = ["RATIO_BAR", "run"]

RATIO_BAR = 0.8


def _load(name: str, server: Child, port: int, path: str, settings: Settings, cores: Cores) -> dict[str, Any]:
    """One load generator run against a started server; its numbers plus the server's own (on SIGTERM)."""
    with running(server):
        result = loadgen.drive(
            port,
            settings.connections,
            cores.load,
            *("--seconds", str(settings.seconds), "--warmup", str(settings.warmup), "--path", path),
        )
        stats = server.stop() or {}
    accepted = result["statuses"].get("202", 0)
    if accepted != result["answered"] or result["errors"]:
        raise RuntimeError(f"{name}: not every delivery was answered 202: {result['statuses']}")
    return {**result, "server_pending": stats.get("pending", 0), "server_handled": stats.get("handled", 0)}


def measure(variant: str, settings: Settings, cores: Cores, *, worker: bool = False) -> dict[str, Any]:
    """One server, one load generator run against it; the load generator's numbers plus the server's CPU."""
    with tempfile.TemporaryDirectory(prefix="chatwright-bench-") as directory:
        server, port = servers.start(
            variant, cores.server, db=Path(directory), worker=worker, loop=loop_for(settings, variant)
        )
        return _load(variant, server, port, servers.PATH, settings, cores)


def measure_peer(peer: Peer, settings: Settings, cores: Cores) -> dict[str, Any]:
    """The same against a peer's server (on the server core, as the others)."""
    server, port, path = peers.start(peer, cores.server, loop=loop_for(settings))
    return _load(peer.name, server, port, path, settings, cores)


def run(settings: Settings, cores: Cores) -> Report:
    report = Report("ingest", "1. Durable ingest (verify + parse + inbox commit, synchronous=FULL, + 202)")
    rate = report.add(Series("acked/s, worker stopped", "1/s", baseline=[]))
    rate_worker = report.add(Series("acked/s, worker running (no-op handler)", "1/s", baseline=[]))
    p99 = report.add(Series("p99 ack latency, worker stopped", "ms", baseline=[], higher_is_better=False))
    p99_worker = report.add(
        Series("p99 ack latency, worker running", "ms", baseline=[], higher_is_better=False)
    )
    ready, skipped = peers.prepare(settings.peers)
    peer_rates = [report.add(Series(f"acked/s, {peer.name}", "1/s", baseline=[])) for peer in ready]
    peer_p99s = [
        report.add(Series(f"p99 ack latency, {peer.name}", "ms", baseline=[], higher_is_better=False))
        for peer in ready
    ]
    drained = []
    for index in range(settings.rounds):
        ours, base = abba(
            index,
            lambda: measure("ours", settings, cores, worker=False),
            lambda: measure("baseline", settings, cores),
        )
        for peer, peer_rate, peer_p99 in zip(ready, peer_rates, peer_p99s, strict=True):
            theirs = measure_peer(peer, settings, cores)
            assert peer_rate.baseline is not None and peer_p99.baseline is not None
            peer_rate.ours.append(theirs["rate"])
            peer_rate.baseline.append(base["rate"])
            peer_p99.ours.append(theirs["p99_ms"])
            peer_p99.baseline.append(base["p99_ms"])
        ours_worker = measure("ours", settings, cores, worker=True)
        assert rate.baseline is not None and rate_worker.baseline is not None
        assert p99.baseline is not None and p99_worker.baseline is not None
        rate.ours.append(ours["rate"])
        rate.baseline.append(base["rate"])
        rate_worker.ours.append(ours_worker["rate"])
        rate_worker.baseline.append(base["rate"])
        p99.ours.append(ours["p99_ms"])
        p99.baseline.append(base["p99_ms"])
        p99_worker.ours.append(ours_worker["p99_ms"])
        p99_worker.baseline.append(base["p99_ms"])
        drained.append(ours_worker["server_handled"])
    ratio = Series.summary(rate.ratios)["median"]
    report.bars.append(Bar("ingest ratio >= 0.8 (worker stopped)", f"{ratio:.2f}", ratio >= RATIO_BAR))
    ratio_worker = Series.summary(rate_worker.ratios)["median"]
    report.notes.append(
        f"with the worker running the ratio is {ratio_worker:.2f}; the worker handled {int(max(drained))}"
        " events in its best round while the intake went on (same core)"
    )
    report.notes.append(
        f"{settings.connections} connections, {settings.seconds:g} s windows after {settings.warmup:g} s warm-up;"
        " every delivery answered 202 (checked)"
    )
    report.notes += peers.notes(ready, skipped)
    for peer, peer_rate in zip(ready, peer_rates, strict=True):
        versus = [o / t for o, t in zip(rate.ours, peer_rate.ours, strict=True) if t]
        report.notes.append(
            f"chatwright (worker stopped) / {peer.name}, acked/s in the same rounds:"
            f" {Series.summary(versus)['median']:.2f} ({min(versus):.2f}-{max(versus):.2f})"
        )
    return report
