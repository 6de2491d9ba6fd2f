"""The servers the webhook benchmarks load, each in its own process: chatwright's service and a raw baseline.

`python -m tests.benchmarks.servers ours --db DIR [--no-worker] [--emulator URL]` serves the real service app
(`framework.service.create_app` around a `Runtime`, schedules included) with one standard-webhooks route,
`/hooks/bench`, on a fresh SQLite file (synchronous=FULL). Without `--emulator` the plugin is a no-op; with it,
each webhook's handler posts one message on the RoostedHR emulator, a journaled step (`--no-steps`: not journaled).

`python -m tests.benchmarks.servers baseline [--emulator URL]` serves a raw aiohttp handler on the same path
that verifies the same HMAC, parses the JSON and answers 202 without storing anything; with `--emulator` it
first makes the same provider call inline, on one shared ClientSession.

`python -m tests.benchmarks.servers durable --db DIR --emulator URL` is the baseline with the least a durable
intake must add: before its provider call it inserts the delivery into a SQLite file (WAL, synchronous=FULL) and
commits, fsync included, right on the loop. With one webhook in flight nothing faster keeps an accepted event
through a power loss, so its latency is the floor of any durable service on this disk (it shares no fsync, so
with many in flight it is no floor; it is measured at one connection only).

`python -m tests.benchmarks.servers grouped --db DIR --emulator URL` is that floor with many webhooks in flight:
the baseline that, before its provider call, waits until its delivery is inserted into a SQLite file and an fsync
covers the commit, the deliveries in flight sharing transactions and fsyncs (tests.benchmarks.group_commit).

All print `READY {"port": ...}` once they listen, and on SIGTERM a `RESULT` line with their CPU share.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from framework import jsoncodec
from tests.benchmarks.group_commit import GroupCommitInbox
from tests.benchmarks.harness import SECRET, Child, cpu_seconds, emit_result, run_on_loop, spawn
from tests.benchmarks.plugins import message_for, noop_plugin, post_plugin
from tests.benchmarks.standard_webhooks import key_of, verify

__all__ = ["arguments", "baseline_app", "main", "ours_app", "start"]

PATH = "/hooks/bench"
API_KEY = "test-key"
WORKER_ID = "3158"


# -- the baseline: verify, parse, (call), 202 --------------------------------------------------------------------


def baseline_app(
    emulator: str | None, durable: Path | None = None, grouped: Path | None = None
) -> web.Application:
    key = key_of(SECRET)
    session_key = web.AppKey("session", aiohttp.ClientSession)
    inbox = None if durable is None else _durable_inbox(durable)
    shared = None if grouped is None else GroupCommitInbox(grouped)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        msg_id = verify(key, request.headers, body)
        if msg_id is None:
            return web.json_response({"error": "bad_signature"}, status=401)
        data = jsoncodec.loads(body)
        if inbox is not None:
            with inbox:  # commits, fsync included
                inbox.execute("INSERT INTO inbox (id, body) VALUES (?, ?)", (msg_id, body))
        if shared is not None:
            await shared.keep(msg_id, body)
        if emulator is not None:
            url = f"{emulator}/workers/{WORKER_ID}/chats/{data['data']['chat_id']}/messages"
            message = message_for(data["data"])
            async with request.app[session_key].post(
                url, data=jsoncodec.dumps({"message": message}), headers={"X-API-KEY": API_KEY}
            ) as answer:
                await answer.read()
                if answer.status != 201:
                    return web.json_response({"error": "provider"}, status=502)
        return web.Response(
            status=202, body=jsoncodec.dumps({"event_id": msg_id}), content_type="application/json"
        )

    async def session(app: web.Application) -> Any:
        app[session_key] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100), headers={"Content-Type": "application/json"}
        )
        yield
        await app[session_key].close()
        if shared is not None:
            shared.close()

    async def ready(_: web.Request) -> web.Response:
        return web.json_response({"status": "ready"})

    app = web.Application()
    app.router.add_post(PATH, receive)
    app.router.add_get("/readyz", ready)
    app.cleanup_ctx.append(session)
    return app


def _durable_inbox(directory: Path) -> sqlite3.Connection:
    inbox = sqlite3.connect(directory / "durable.db")
    inbox.execute("PRAGMA journal_mode=WAL")
    inbox.execute("PRAGMA synchronous=FULL")
    inbox.execute("CREATE TABLE inbox (id TEXT PRIMARY KEY, body BLOB NOT NULL)")
    return inbox


# -- ours: the chatwright service ---------------------------------------------------------------------------------


def ours_app(
    db_dir: Path, *, worker: bool, emulator: str | None, steps: bool = True
) -> tuple[web.Application, Any]:
    from framework.config import config_from_dict
    from framework.gc_tuning import tune_collector_for
    from framework.runtime import Runtime
    from framework.service import create_app

    raw: dict[str, Any] = {
        "store": {"url": f"sqlite:///{db_dir / 'bench.db'}"},
        "webhooks": [
            {
                "path": PATH,
                "event": "shift.published",
                "verify": {"scheme": "standard-webhooks", "secrets": [SECRET]},
            }
        ],
        "plugins": {"entry_points": False},
        "service": {"steps": steps},
    }
    if emulator is not None:
        raw["adapters"] = {
            "roosted": {
                "provider": "roostedhr",
                "base_url": emulator,
                "api_key": API_KEY,
                "worker_id": WORKER_ID,
            }
        }
    config = config_from_dict(raw, db_dir / "bench.toml", "bench.toml", {})
    plugins = [post_plugin("roosted")] if emulator is not None else [noop_plugin("*")]
    runtime = Runtime(config, plugins=plugins)
    if not worker:
        # The service app starts the runtime with its worker; the ingest benchmark measures intake alone.
        runtime.start = functools.partial(Runtime.start, runtime, worker=False)  # type: ignore[method-assign]
    app = create_app(runtime)
    tune_collector_for(app, config.service.gc)  # as `chatwright run` does
    return app, runtime


async def _serve(args: argparse.Namespace) -> dict[str, Any]:
    runtime = None
    if args.variant == "ours":
        app, runtime = ours_app(
            Path(args.db), worker=not args.no_worker, emulator=args.emulator, steps=not args.no_steps
        )
    else:
        app = baseline_app(
            args.emulator,
            durable=Path(args.db) if args.variant == "durable" else None,
            grouped=Path(args.db) if args.variant == "grouped" else None,
        )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port)
    await site.start()
    emit_result({"port": runner.addresses[0][1]}, prefix="READY")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    started, cpu_start, system_start = time.monotonic(), cpu_seconds(), os.times().system
    await stop.wait()
    cpu = cpu_seconds() - cpu_start
    cpu_system = os.times().system - system_start
    cpu_share = cpu / max(time.monotonic() - started, 1e-9)
    handled = runtime.worker.handled if runtime is not None else 0
    handed_over = runtime.worker.handed_over if runtime is not None else 0
    pending = await runtime.store.pending() if runtime is not None else 0
    commits = getattr(runtime.store, "commits", 0) if runtime is not None else 0
    syncs = getattr(runtime.store, "syncs", 0) if runtime is not None else 0
    await runner.cleanup()
    return {
        "cpu_share": cpu_share,
        "cpu": cpu,
        "cpu_system": cpu_system,
        "handled": handled,
        "handed_over": handed_over,
        "pending": pending,
        "commits": commits,
        "syncs": syncs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=["ours", "baseline", "durable", "grouped"])
    parser.add_argument("--db", default=".", help="directory of the SQLite file (ours, durable, grouped)")
    parser.add_argument("--no-worker", action="store_true", help="serve webhooks without the worker (ours)")
    parser.add_argument("--emulator", default=None, help="RoostedHR emulator URL: one provider call per hook")
    parser.add_argument("--no-steps", action="store_true", help="handlers' calls are not journaled (ours)")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="asyncio")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    emit_result(run_on_loop(args.loop, _serve(args)))


if __name__ == "__main__":
    main()


def start(
    variant: str,
    cpus: frozenset[int] | None,
    *,
    db: Path | None = None,
    worker: bool = True,
    emulator: str | None = None,
    loop: str = "asyncio",
    steps: bool = True,
) -> tuple[Child, int]:
    """Start a server process (from the benchmark driver) and wait until it listens; returns it and its port."""
    args = arguments(variant, db=db, worker=worker, emulator=emulator, loop=loop, steps=steps)
    child = spawn("tests.benchmarks.servers", *args, cpus=cpus, name=f"{variant} server")
    return child, int(child.ready()["port"])


def arguments(
    variant: str,
    *,
    db: Path | None = None,
    worker: bool = True,
    emulator: str | None = None,
    loop: str = "asyncio",
    steps: bool = True,
) -> list[str]:
    """The command line of `python -m tests.benchmarks.servers` for that server."""
    args = [variant]
    if not steps:
        args.append("--no-steps")
    if db is not None:
        args += ["--db", str(db)]
    if not worker:
        args.append("--no-worker")
    if emulator is not None:
        args += ["--emulator", emulator]
    return [*args, "--loop", loop]
