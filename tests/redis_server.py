"""A `redis-server` of a test's or benchmark's own, on a free port: not the machine's shared Redis."""

from __future__ import annotations

import signal
import subprocess
import time

import attrs

from tests.ports import free_port

__all__ = ["RedisServer"]

READY_WITHIN = 10.0
"""Seconds a started server may take to answer (it loads its files first)."""


@attrs.define
class RedisServer:
    """`redis-server` (at `binary`) with `options` on top of: 127.0.0.1, a free port, no RDB snapshots.

    `start()` returns once it answers; `crash()` kills it with SIGKILL; `start()` again runs it on the same files.
    """

    binary: str
    options: tuple[str, ...] = ()
    port: int = attrs.field(factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *self.options]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + READY_WITHIN
        try:
            while True:
                try:
                    client.ping()
                    return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
        finally:
            client.close()

    def crash(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
