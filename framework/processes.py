"""Several service processes on one host, one per core: `chatwright run --processes N`.

The first process binds the service's address with SO_REUSEPORT and forks N-1 copies of itself before anything
else starts (no loop, no threads, no store opened yet). Each copy binds the same address again, so the kernel
spreads new connections over the N listening sockets, and runs its own runtime on the configured store: the
processes share one inbox, its dedupe keys, state and schedules as replicas on one store do (docs/scaling.md),
and each event is handled by one of them. The first process stops the others when it stops.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Sequence

__all__ = ["fork", "stop"]

STOP_POLL = 0.05
"""Seconds between checks that the stopped copies have exited."""


def fork(count: int) -> tuple[int, list[int]]:
    """Fork `count - 1` copies of this process. Returns this process's index (0 for the first) and, in the
    first process, the copies' pids."""
    children: list[int] = []
    for index in range(1, count):
        pid = os.fork()
        if pid == 0:
            return index, []
        children.append(pid)
    return 0, children


def stop(children: Sequence[int], timeout: float) -> None:
    """SIGTERM the copies (each drains as on its own SIGTERM) and wait up to `timeout` seconds; SIGKILL the rest."""
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    waiting = set(children)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        for pid in list(waiting):
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == 0:
                    continue
            waiting.discard(pid)
        if waiting:
            time.sleep(STOP_POLL)
    for pid in waiting:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
