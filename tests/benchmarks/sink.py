"""A provider that costs next to nothing: answers RoostedHR's `post_message` with 201 and counts, in its own process.

`python -m tests.benchmarks.sink` speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) over an asyncio
protocol on uvloop to answer `POST .../chats/{id}/messages` as the RoostedHR emulator does (201 and the message,
with the fields the adapter reads), and serves the emulator's benchmark routes (`bench-stats`, `bench-reset`,
`bench-chats`, `bench-delivery`; tests.benchmarks.emulator), so tests.benchmarks.bench_e2e.Emulator drives it
the same way. The benchmarks that measure how chatwright scales (processes, scaling) post to it: on a 2-core
machine the full emulator, an aiohttp application, costs about as much CPU per post as the service does, and
would take the second core that a second service process needs.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections import Counter
from typing import Any

import orjson

from tests.benchmarks.harness import emit_result, run_on_loop

__all__ = ["main"]


class _Counters:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.latencies: list[float] = []
        self.posts: Counter[str] = Counter()

    def stats(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        latency = (
            {f"p{p}": ordered[min(len(ordered) - 1, len(ordered) * p // 100)] for p in (50, 90, 99)}
            if ordered
            else {}
        )
        return {
            "messages": self.count,
            "first_at": self.first,
            "last_at": self.last,
            "requests": self.count,
            "throttled": 0,
            "latency_ms": latency,
        }


def _answer(status: int, body: bytes) -> bytes:
    reason = {200: "OK", 201: "Created", 404: "Not Found"}[status]
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


class _Server(asyncio.Protocol):
    def __init__(self, counters: _Counters) -> None:
        self._counters = counters
        self._buffer = bytearray()
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end])
            lower = head.lower()
            at = lower.find(b"\r\ncontent-length:")
            length = int(lower[at + 17 : lower.find(b"\r\n", at + 2) % (len(lower) + 1)]) if at >= 0 else 0
            total = end + 4 + length
            if len(self._buffer) < total:
                return
            body = bytes(self._buffer[end + 4 : total])
            del self._buffer[:total]
            method, path, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            self.transport.write(self._handle(method, path, body))

    def _handle(self, method: str, path: str, body: bytes) -> bytes:
        counters = self._counters
        if method == "POST" and path.endswith("/messages"):
            now = time.monotonic()
            if not counters.count:
                counters.first = now
            counters.count += 1
            counters.last = now
            chat = path.split("/chats/")[1].split("/")[0]
            counters.posts[chat] += 1
            text = str(orjson.loads(body).get("message", ""))
            last = text.rpartition(" ")[2]
            if last.isdigit():
                counters.latencies.append((time.monotonic_ns() - int(last)) / 1e6)
            message = {
                "id": str(1000 + counters.count),
                "message": text,
                "sender_id": "3158",
                "sender_name": "Chris Davis",
                "date_created": "2026-01-01T00:00:00.000Z",
                "read": "1",
            }
            return _answer(201, orjson.dumps(message))
        if path == "/_emulator/bench-stats":
            return _answer(200, orjson.dumps(counters.stats()))
        if path == "/_emulator/bench-reset":
            counters.reset()
            return _answer(200, b'{"reset":true}')
        if path == "/_emulator/bench-chats":
            count = int(orjson.loads(body)["count"])
            return _answer(200, orjson.dumps({"chat_ids": [str(100 + i) for i in range(count)]}))
        if path == "/_emulator/bench-delivery":
            posts = dict(counters.posts)
            return _answer(200, orjson.dumps({"messages": posts, "posts": posts, "throttled": 0}))
        return _answer(404, b'{"error":"not_found"}')


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    counters = _Counters()
    server = await loop.create_server(lambda: _Server(counters), "127.0.0.1", port)
    emit_result({"port": server.sockets[0].getsockname()[1]}, prefix="READY")
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    run_on_loop("uvloop", _serve(args.port))


if __name__ == "__main__":
    main()
