"""The driver's handle on a provider emulator process (tests.benchmarks.emulator, or the sink): its URL, the chats
it holds for the benchmarks, and its counters."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from tests.benchmarks.harness import Child, spawn

__all__ = ["Emulator"]


class Emulator:
    """The RoostedHR emulator process (tests.benchmarks.emulator) and its benchmark counters."""

    def __init__(
        self,
        cpus: frozenset[int] | None,
        rate_limit: float | None = None,
        latency: float = 0.0,
        *,
        sink: bool = False,
    ) -> None:
        """`sink`: tests.benchmarks.sink in place of the emulator (the same routes, next to no CPU per post;
        no rate limit or latency)."""
        args = ["--rate-limit", str(rate_limit)] if rate_limit else []
        args += ["--latency", str(latency)] if latency else []
        module = "tests.benchmarks.sink" if sink else "tests.benchmarks.emulator"
        self.child: Child = spawn(module, *([] if sink else args), cpus=cpus, name=module.rsplit(".", 1)[1])
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
