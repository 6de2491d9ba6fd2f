"""Several service processes on one host, one per core: `chatwright run --processes N`, and what keeps them up.

The process started becomes a supervisor: it binds the service's address (without listening, so no connection
waits on it), then forks N serving processes before anything else starts (no loop, no threads, no store opened).
Each binds the same address with SO_REUSEPORT and listens, so the kernel spreads new connections over them, and
runs its own runtime on the configured store: the processes share one inbox, its dedupe keys, state and
schedules as replicas on one store do (docs/scaling.md), and each event is handled by one of them.

The supervisor restarts a serving process that dies (a crash, the OOM killer, `kill -9`), after a delay that
doubles while replacements keep dying young; the replacement's store releases the dead process's claims when it
opens. A process that exits with status 2 (the config or its wiring is wrong) would only fail again: the
supervisor then stops the others and exits 2. SIGTERM or SIGINT to the supervisor drains and stops them all;
a supervisor that dies takes its serving processes with it (Linux: they get SIGTERM), so whatever restarts the
service (systemd, a container runtime) never finds them still holding the address.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable

import attrs

__all__ = ["Supervisor"]

log = logging.getLogger("chatwright.processes")

RESTART_DELAY = 0.5
"""Seconds before a dead serving process is replaced, doubled for each replacement that died young."""

MAX_RESTART_DELAY = 30.0

DIED_YOUNG = 10.0
"""Seconds a serving process must have run for its death to restart the delay from RESTART_DELAY."""

USAGE_ERROR = 2
"""The exit status of a process that found the config or its wiring wrong (`chatwright run` prints why)."""

_PR_SET_PDEATHSIG = 1
_WATCHED = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT)


@attrs.define
class _Slot:
    """One serving process's place: its index, its current pid and when it started, and its next restart."""

    index: int
    pid: int = 0
    started: float = 0.0
    delay: float = RESTART_DELAY
    restart_at: float | None = None


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to SIGTERM this process when its parent dies (Linux); exit now if it already has."""
    if sys.platform.startswith("linux"):
        import ctypes  # here: a service of one process never loads it (0.4 MB)

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os._exit(0)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


class Supervisor:
    """Forks `count` serving processes, each running `serve(index)` and exiting with what it returns; keeps
    them running until it is told to stop (SIGTERM, SIGINT), then stops them within `stop_timeout` seconds."""

    def __init__(self, count: int, serve: Callable[[int], int], *, stop_timeout: float) -> None:
        self.serve = serve
        self.stop_timeout = stop_timeout
        self._slots = [_Slot(index) for index in range(count)]
        self._pid = os.getpid()

    def run(self) -> int:
        """Supervise until stopped; returns the exit status for `chatwright run` (0, or 2 on a usage error)."""
        # Blocked here, and waited for with sigtimedwait: no handler runs between a check and a wait.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
        try:
            for slot in self._slots:
                self._start(slot, previous)
            return self._supervise(previous)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def _start(self, slot: _Slot, mask: set[int | signal.Signals]) -> None:
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                _die_with_parent(self._pid)
                status = self.serve(slot.index)
            except SystemExit as exit_:
                status = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException:
                log.exception("serving process %d failed", slot.index + 1)
            finally:
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(status)
        slot.pid, slot.started, slot.restart_at = pid, time.monotonic(), None

    def _supervise(self, mask: set[int | signal.Signals]) -> int:
        while True:
            now = time.monotonic()
            due = [slot.restart_at for slot in self._slots if slot.restart_at is not None]
            timeout = max(0.0, min(due) - now) if due else None
            received: signal.struct_siginfo | None
            if timeout is None:
                received = signal.sigwaitinfo(_WATCHED)
            else:
                received = signal.sigtimedwait(_WATCHED, timeout)
            if received is not None and received.si_signo in (signal.SIGTERM, signal.SIGINT):
                return self._stop(0)
            usage_error = self._reap()
            if usage_error is not None:
                log.error(
                    "serving process %d exited with status %d (the config or its wiring): stopping the others",
                    usage_error.index + 1,
                    USAGE_ERROR,
                )
                return self._stop(USAGE_ERROR)
            now = time.monotonic()
            for slot in self._slots:
                if slot.restart_at is not None and slot.restart_at <= now:
                    self._start(slot, mask)

    def _reap(self) -> _Slot | None:
        """Collect exited serving processes and schedule their restarts; the slot of one that exited with a usage
        error, if any."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid == 0:
                return None
            slot = next((slot for slot in self._slots if slot.pid == pid), None)
            if slot is None:
                continue
            slot.pid = 0
            if os.WIFEXITED(status) and os.WEXITSTATUS(status) == USAGE_ERROR:
                return slot
            now = time.monotonic()
            if now - slot.started >= DIED_YOUNG:
                slot.delay = RESTART_DELAY
            slot.restart_at = now + slot.delay
            log.warning(
                "serving process %d (pid %d) %s; starting another in %.1f s",
                slot.index + 1,
                pid,
                _describe(status),
                slot.delay,
            )
            slot.delay = min(MAX_RESTART_DELAY, slot.delay * 2)

    def _stop(self, status: int) -> int:
        """SIGTERM the serving processes (each drains as on its own SIGTERM), wait up to `stop_timeout` seconds,
        SIGKILL the rest."""
        running = {slot.pid for slot in self._slots if slot.pid}
        for pid in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        while running:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                running.discard(pid)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                break
            signal.sigtimedwait((signal.SIGCHLD,), min(left, 1.0))
        for pid in running:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        return status
