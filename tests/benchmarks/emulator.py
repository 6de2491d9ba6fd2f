"""A provider emulator in its own process, with the counters the benchmarks read.

`python -m tests.benchmarks.emulator` serves the RoostedHR emulator at the root (`--all`: the four emulators
under their prefixes, as `chatwright emulate` does) and prints `READY {"port": ...}`. Beside the emulator kit's
`/_emulator` routes it serves (neither recorded nor rate limited):
- `GET  /_emulator/bench-stats`     messages posted so far, monotonic times of the first and last, 429s sent
- `POST /_emulator/bench-chats`     `{"count": n}`: create n chats directly in the state; answers their ids
- `GET  /_emulator/bench-delivery`  per chat: messages stored and POSTs recorded (for exactly-once checks)
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web

from adapters.roostedhr.emulator import STATE_KEY, TEST_WORKER_ID, create_app
from framework.adapter_registry import EmulatorOptions
from framework.emulation import FAULTS_KEY
from tests.benchmarks.harness import emit_result, run_on_loop

__all__ = ["main", "roostedhr_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MEMBERS = ["3158", "120915"]


def _sent_ns(message: str) -> int | None:
    """The load generator's send time that tests.benchmarks.plugins.message_for appends to a message, if any."""
    last = message.rpartition(" ")[2]
    return int(last) if last.isdigit() else None


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        f"p{share}": ordered[min(len(ordered) - 1, len(ordered) * share // 100)] for share in (50, 90, 99)
    }


def roostedhr_app(options: EmulatorOptions) -> web.Application:
    """The RoostedHR emulator plus the benchmark counters."""
    app = create_app(options)
    state = app[STATE_KEY]
    faults = app[FAULTS_KEY]
    posted = {"count": 0, "first": 0.0, "last": 0.0}
    latencies: list[float] = []
    """Milliseconds from the load generator's send to this post, for messages that carry the send time."""

    @web.middleware
    async def count_messages(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.method == "POST" and response.status == 201 and request.path.endswith("/messages"):
            now = time.monotonic()
            if not posted["count"]:
                posted["first"] = now
            posted["count"] += 1
            posted["last"] = now
            sent = _sent_ns((await request.json()).get("message", ""))
            if sent is not None:
                latencies.append((time.monotonic_ns() - sent) / 1e6)
        return response

    app.middlewares.append(count_messages)

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "messages": posted["count"],
                "first_at": posted["first"],
                "last_at": posted["last"],
                "requests": len(faults.requests),
                "throttled": faults.throttled,
                "latency_ms": _percentiles(latencies),
            }
        )

    async def make_chats(request: web.Request) -> web.Response:
        count = int((await request.json())["count"])
        ids = [state.create_chat(TEST_WORKER_ID, MEMBERS, f"bench {i}").id for i in range(count)]
        return web.json_response({"chat_ids": ids})

    async def delivery(_: web.Request) -> web.Response:
        posts: Counter[str] = Counter(
            r.path.split("/chats/")[1].split("/")[0]
            for r in faults.requests
            if r.method == "POST" and r.path.endswith("/messages")
        )
        return web.json_response(
            {
                "messages": {chat.id: len(chat.messages) for chat in state.chats.values()},
                "posts": dict(posts),
                "throttled": faults.throttled,
            }
        )

    async def reset_counters(_: web.Request) -> web.Response:
        posted.update(count=0, first=0.0, last=0.0)
        latencies.clear()
        faults.requests.clear()
        faults.window.clear()
        faults.throttled = 0
        for chat in state.chats.values():
            chat.messages.clear()
        return web.json_response({"reset": True})

    app.router.add_get("/_emulator/bench-stats", stats)
    app.router.add_post("/_emulator/bench-chats", make_chats)
    app.router.add_get("/_emulator/bench-delivery", delivery)
    app.router.add_post("/_emulator/bench-reset", reset_counters)
    return app


async def _serve(args: argparse.Namespace) -> None:
    options = EmulatorOptions(rate_limit=args.rate_limit, latency=args.latency)
    if args.all:
        from framework.commands import emulator_app

        app = emulator_app(None, options)
    else:
        app = roostedhr_app(options)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port)
    await site.start()
    port = runner.addresses[0][1]
    emit_result({"port": port}, prefix="READY")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate-limit", type=float, default=None)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each provider answer")
    parser.add_argument("--all", action="store_true", help="the four emulators under their prefixes")
    args = parser.parse_args()
    run_on_loop("uvloop", _serve(args))


if __name__ == "__main__":
    main()
