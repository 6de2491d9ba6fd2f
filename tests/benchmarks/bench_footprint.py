"""Benchmark 6, footprint: idle RSS and start-up time of `chatwright run` with the four bots, and RSS over 100k events.

The service is the real command, `chatwright run bench.toml`, on the server core. Its config is the four bots'
`bots/*/bot.toml` side by side (as `chatwright demo` composes them) plus one standard-webhooks route,
`/hooks/bench`, whose events a no-op handler takes; the bots' adapters point at the four emulators, served by
one process on the load core. (Without the bots, the four adapters are configured directly, and a note says so.)
- start-up: from just before the process is spawned until `GET /readyz` answers 200;
- idle RSS: two seconds after that;
- RSS over events: webhooks to `/hooks/bench` until the worker has handled N; RSS once N/10 are handled (after
  warm-up) and again once all N are and the service is idle. The growth between the two is the figure.
The baseline is the raw aiohttp server of the ingest benchmark, measured the same way (its "events" are webhooks
verified, parsed and answered).

Both sides start from byte-compiled modules, as an installed service does (`pip install` compiles a wheel's
modules; any first run writes them): the project's packages are compiled before the first round. Where
PYTHONDONTWRITEBYTECODE is set and nothing was compiled, every start would compile the framework, the adapters and
the bots from source, which costs both time and heap that an installed service does not spend.
"""

from __future__ import annotations

import compileall
import json
import re
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from tests.benchmarks import loadgen
from tests.benchmarks.harness import (
    ROOT,
    SECRET,
    Bar,
    Cores,
    Report,
    Series,
    Settings,
    loop_for,
    running,
    spawn,
)
from tests.benchmarks.service_helpers import http_get, toml_document, toml_value, wait_ready
from tests.ports import free_port

__all__ = ["IDLE_RSS_BAR_MB", "RSS_GROWTH_BAR", "STARTUP_BAR_S", "bench_config", "run"]

IDLE_RSS_BAR_MB = 50.0
STARTUP_BAR_S = 1.0
RSS_GROWTH_BAR = 0.10
BOTS = ("shiftchat", "ambassador", "escalation", "eventrooms")
PREFIXES = {"roostedhr": "ROOSTED", "popsell": "POPSELL", "devrev": "DEVREV", "groupalarm": "GROUPALARM"}


def _rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / 2**20


# -- the config: the four bots side by side, plus the benchmark's route ---------------------------------------------


def bench_config(
    directory: Path, port: int, emulator: str, event_loop: str = "auto"
) -> tuple[Path, dict[str, str], bool]:
    """Write the service's config; returns its path, the environment it needs, and whether the bots are in it."""
    merged: dict[str, Any] = {
        "service": {"host": "127.0.0.1", "port": port, "event_loop": event_loop},
        "store": {"url": f"sqlite:///{directory / 'bench.db'}"},
        "adapters": {},
        "webhooks": [],
        "schedules": [],
        "plugins": {"modules": ["tests.benchmarks.plugins"], "entry_points": False},
    }
    env = {f"{variable}_BASE_URL": f"{emulator}/{provider}" for provider, variable in PREFIXES.items()}
    tomls = [ROOT / "bots" / bot / "bot.toml" for bot in BOTS]
    with_bots = all(path.exists() for path in tomls)
    if with_bots:
        for path in tomls:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
            merged["adapters"].update(raw.get("adapters", {}))
            merged["webhooks"] += raw.get("webhooks", [])
            merged["schedules"] += raw.get("schedules", [])
            plugins = raw.get("plugins", {})
            merged["plugins"]["modules"] += plugins.get("modules", [])
            merged["plugins"].update({k: v for k, v in plugins.items() if isinstance(v, dict)})
    else:
        from framework.adapter_registry import find_adapter

        for provider in PREFIXES:
            spec = find_adapter(provider)
            merged["adapters"][provider] = {
                "provider": provider,
                "base_url": f"{emulator}{spec.emulator_prefix}",
                **dict(spec.emulator_settings),
            }
    merged["webhooks"].append(
        {
            "path": "/hooks/bench",
            "event": "bench.ping",
            "verify": {"scheme": "standard-webhooks", "secrets": [SECRET]},
        }
    )
    if not merged["schedules"]:
        del merged["schedules"]
    path = directory / "bench.toml"
    path.write_text(toml_document({k: v for k, v in merged.items() if k not in ("webhooks", "schedules")}))
    with path.open("a") as file:
        for key in ("webhooks", "schedules"):
            for table in merged.get(key, []):
                file.write(
                    f"\n[[{key}]]\n"
                    + "\n".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items())
                )
                file.write("\n")
    return path, env, with_bots


# -- measuring ----------------------------------------------------------------------------------------------------


def _handled(base: str) -> int:
    _, text = http_get(f"{base}/metrics")
    match = re.search(r'chatwright_events_total\{action="done"\} (\d+)(?:\.0)?\b', text)
    return int(match.group(1)) if match else 0


def measure(variant: str, settings: Settings, cores: Cores, emulator: str) -> dict[str, Any]:
    events = settings.footprint_events
    with tempfile.TemporaryDirectory(prefix="chatwright-bench-") as directory:
        port = free_port()
        if variant == "ours":
            config, env, with_bots = bench_config(Path(directory), port, emulator, loop_for(settings, "ours"))
            command = [sys.executable, "-m", "framework.cli", "run", str(config)]
            started = time.monotonic()
            child = spawn("", cpus=cores.server, name="chatwright run", env=env, command=command)
            ready_url = f"http://127.0.0.1:{port}/readyz"
        else:
            with_bots = False
            started = time.monotonic()
            child = spawn(
                "tests.benchmarks.servers",
                "baseline",
                "--port",
                str(port),
                "--loop",
                loop_for(settings, "baseline"),
                cpus=cores.server,
                name="baseline",
            )
            ready_url = f"http://127.0.0.1:{port}/readyz"
        with running(child):
            wait_ready(child, ready_url)
            startup = time.monotonic() - started
            time.sleep(settings.idle_seconds)
            idle = _rss_mb(child.pid)
            load = loadgen.start(port, settings.connections, cores.load, "--count", str(events))
            base = f"http://127.0.0.1:{port}"
            warm = peak = 0.0
            with running(load):
                while True:
                    done = (
                        _handled(base)
                        if variant == "ours"
                        else events
                        if load.process.poll() is not None
                        else 0
                    )
                    rss = _rss_mb(child.pid)
                    peak = max(peak, rss)
                    if not warm and (variant != "ours" or done >= events // 10):
                        warm = rss
                    if done >= events and load.process.poll() is not None:
                        break
                    time.sleep(0.2)
                sent = load.result()
            time.sleep(1.0)
            end = _rss_mb(child.pid)
            child.stop()
    if sent["statuses"].get("202", 0) != events:
        raise RuntimeError(f"{variant}: not every webhook was answered 202: {sent['statuses']}")
    return {
        "startup_s": startup,
        "idle_rss_mb": idle,
        "warm_rss_mb": warm,
        "end_rss_mb": end,
        "peak_rss_mb": peak,
        "growth": end / warm - 1 if warm else float("nan"),
        "with_bots": with_bots,
    }


def _compile_sources() -> None:
    """Byte-compile what both sides import from the checkout (the site-packages are compiled at install)."""
    for package in ("framework", "adapters", "bots", "tests/benchmarks"):
        if not compileall.compile_dir(ROOT / package, quiet=1):
            raise RuntimeError(f"cannot byte-compile {package}")


def run(settings: Settings, cores: Cores) -> Report:
    n = settings.footprint_events
    _compile_sources()
    report = Report("footprint", "6. Footprint (`chatwright run` with the four bots)")
    startup = report.add(Series("start-up to /readyz 200", "s", baseline=[], higher_is_better=False))
    idle = report.add(Series("idle RSS", "MB", baseline=[], higher_is_better=False))
    warm = report.add(
        Series(f"RSS after warm-up ({n // 10} events)", "MB", baseline=[], higher_is_better=False)
    )
    end = report.add(Series(f"RSS after {n} events", "MB", baseline=[], higher_is_better=False))
    growth = report.add(Series("RSS growth after warm-up", "%", baseline=[], higher_is_better=False))
    emulators = spawn("tests.benchmarks.emulator", "--all", cpus=cores.load, name="emulators")
    with running(emulators):
        emulator = f"http://127.0.0.1:{emulators.ready()['port']}"
        bots = True
        for _ in range(settings.rounds):
            ours = measure("ours", settings, cores, emulator)
            base = measure("baseline", settings, cores, emulator)
            bots = bots and ours["with_bots"]
            for series, key, scale in (
                (startup, "startup_s", 1.0),
                (idle, "idle_rss_mb", 1.0),
                (warm, "warm_rss_mb", 1.0),
                (end, "end_rss_mb", 1.0),
                (growth, "growth", 100.0),
            ):
                assert series.baseline is not None
                series.ours.append(ours[key] * scale)
                series.baseline.append(base[key] * scale)
        emulators.stop()
    rss = Series.summary(idle.ours)["median"]
    seconds = Series.summary(startup.ours)["median"]
    grown = Series.summary(growth.ours)["max"]
    report.bars.append(Bar(f"idle RSS <= {IDLE_RSS_BAR_MB:g} MB", f"{rss:.1f} MB", rss <= IDLE_RSS_BAR_MB))
    report.bars.append(
        Bar(f"start-up to /readyz <= {STARTUP_BAR_S:g} s", f"{seconds:.2f} s", seconds <= STARTUP_BAR_S)
    )
    report.bars.append(
        Bar(
            f"RSS growth after warm-up <= 10% ({n} events)",
            f"{grown:+.1f}% (worst round)",
            grown <= 100 * RSS_GROWTH_BAR,
        )
    )
    if not bots:
        report.notes.append(
            "bots/*/bot.toml not all present: the four adapters were configured without the bots"
        )
    else:
        report.notes.append("the four bots (bots/*/bot.toml) loaded side by side, adapters on the emulators")
    report.notes.append(
        "both sides' modules byte-compiled before the first round, as an installed service's are"
    )
    return report
