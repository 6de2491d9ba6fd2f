"""The load generator: signed standard-webhooks deliveries over keep-alive connections, in its own process.

`python -m tests.benchmarks.loadgen --port P --connections 64 --seconds 5` keeps 64 requests in flight (closed
loop, one per connection) and reports the acknowledgements per second and their latency percentiles; with
`--count N` it sends exactly N deliveries and reports when the first went out and the last was answered.
A server that answers `Connection: close` (werkzeug's, under Errbot, does on every response) gets the next
delivery on a new connection, whose connect time counts in that delivery's latency.

It speaks HTTP/1.1 over asyncio protocols (uvloop when installed) rather than aiohttp's client: a Python HTTP
client on one core is slower than the servers under test, and would measure itself.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import os
import time
from typing import Any

from tests.benchmarks.harness import SECRET, Child, cpu_seconds, emit_result, run_on_loop, running, spawn

__all__ = ["Delivery", "main", "start"]


class Delivery:
    """Builds signed deliveries: a ~300 byte shift event, each with its own webhook-id."""

    def __init__(self, host: str, path: str, secret: str, chat_id: str | None, run: str) -> None:
        self._key = base64.b64decode(secret.removeprefix("whsec_"))
        self._head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        self._chat = f',"chat_id":"{chat_id}"' if chat_id else ""
        self._run = run

    def _sent(self) -> str:
        # With a chat to post to (end to end), the send time rides along: the handler puts it into its message
        # and the emulator takes webhook -> provider post latency from it (CLOCK_MONOTONIC is system-wide).
        return f',"sent":{time.monotonic_ns()}' if self._chat else ""

    def build(self, connection: int, sequence: int) -> bytes:
        msg_id = f"msg_{self._run}_{connection}_{sequence}"
        body = (
            f'{{"type":"shift.published","data":{{"id":"shift-{connection}-{sequence}",'
            '"title":"Morning shift, warehouse 4","starts_at":"2025-06-02T06:00:00Z",'
            '"ends_at":"2025-06-02T14:00:00Z","worker_ids":["3158","120915","2041"],'
            f'"notes":"Bring safety shoes."{self._chat}{self._sent()}}}}}'
        ).encode()
        stamp = str(int(time.time()))
        mac = hmac.new(self._key, f"{msg_id}.{stamp}.".encode(), hashlib.sha256)
        mac.update(body)
        signature = base64.b64encode(mac.digest()).decode()
        head = (
            f"{self._head}Content-Length: {len(body)}\r\nwebhook-id: {msg_id}\r\n"
            f"webhook-timestamp: {stamp}\r\nwebhook-signature: v1,{signature}\r\n\r\n"
        )
        return head.encode() + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight; `send` returns the response status.
    `reusable` turns False once the server has said it closes the connection after its answer."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.reusable = True
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._parse()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def _parse(self) -> None:
        if self._waiter is None:
            return
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        length = 0
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        total = end + 4 + length
        if len(self._buffer) < total:
            return
        status = int(head[9:12])
        if b"\r\nconnection: close" in head:
            self.reusable = False
        del self._buffer[:total]
        waiter, self._waiter = self._waiter, None
        if not waiter.done():
            waiter.set_result(status)

    async def send(self, request: bytes) -> int:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self._waiter


class _Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self.reconnects = 0


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    delivery = Delivery(f"127.0.0.1:{args.port}", args.path, args.secret, args.chat_id, os.urandom(4).hex())
    connections = [
        (await loop.create_connection(_Connection, "127.0.0.1", args.port))[1]
        for _ in range(args.connections)
    ]
    tally = _Tally()
    remaining = [args.count]
    started = time.monotonic()
    window_start = started + args.warmup
    window_end = window_start + args.seconds
    cpu_start = cpu_seconds()

    async def drive(index: int, connection: _Connection) -> None:
        sequence = 0
        while True:
            if args.count:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            elif time.monotonic() >= window_end:
                return
            sequence += 1
            request = delivery.build(index, sequence)
            sent = time.monotonic()
            try:
                if not connection.reusable:
                    connection.transport.close()
                    connection = (await loop.create_connection(_Connection, "127.0.0.1", args.port))[1]
                    connections[index] = connection
                    tally.reconnects += 1
                status = await connection.send(request)
            except ConnectionError:
                tally.errors += 1
                return
            done = time.monotonic()
            if args.count or window_start <= done < window_end:
                tally.latencies.append(done - sent)
                tally.statuses[status] = tally.statuses.get(status, 0) + 1

    await asyncio.gather(*(drive(i, c) for i, c in enumerate(connections)))
    finished = time.monotonic()
    cpu_used = cpu_seconds() - cpu_start
    for connection in connections:
        if connection.transport is not None:
            connection.transport.close()
    latencies = sorted(tally.latencies)
    elapsed = (finished - started) if args.count else args.seconds
    done_count = len(latencies)

    def percentile(share: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(share * len(latencies)))] * 1000

    return {
        "answered": done_count,
        "rate": done_count / elapsed if elapsed else 0.0,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "errors": tally.errors,
        "reconnects": tally.reconnects,
        "started": started,
        "finished": finished,
        "cpu_share": cpu_used / max(finished - started, 1e-9),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/hooks/bench")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window (without --count)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured lead-in (without --count)")
    parser.add_argument("--count", type=int, default=0, help="send exactly this many, then stop")
    parser.add_argument("--chat-id", default=None, help="put this chat_id into every delivery's data")
    parser.add_argument("--secret", default=SECRET)
    args = parser.parse_args()
    emit_result(run_on_loop("uvloop", _run(args)))


def start(port: int, connections: int, cpus: frozenset[int] | None, *options: str) -> Child:
    """Start the load generator (from the benchmark driver) against 127.0.0.1:`port`; `options` as on its
    command line (`--seconds S --warmup W`, or `--count N [--chat-id C]`)."""
    return spawn(
        "tests.benchmarks.loadgen",
        *("--port", str(port), "--connections", str(connections), *options),
        cpus=cpus,
        name="load generator",
    )


def drive(port: int, connections: int, cpus: frozenset[int] | None, *options: str) -> dict[str, Any]:
    """Run the load generator against 127.0.0.1:`port` to its end (see `start`); its result."""
    load = start(port, connections, cpus, *options)
    with running(load):
        result: dict[str, Any] = load.result()
    return result


if __name__ == "__main__":
    main()
