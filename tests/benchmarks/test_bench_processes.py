"""Benchmark 7 measures N processes only when N serve: a copy that exits leaves the others serving alone."""

from __future__ import annotations

import sys

import pytest

from tests.benchmarks.bench_processes import _serving
from tests.benchmarks.harness import running, spawn

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

FORKS = """
import os, sys, time
first = os.fork()
if first == 0 and sys.argv[1] == "copy-exits":
    os._exit(1)
second = os.fork() if first else 0
if second:  # the supervisor: it serves nothing
    if sys.argv[1] == "copy-exits":
        os.waitid(os.P_PID, first, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped or replaced
    print("READY {}", flush=True)
time.sleep(30)
"""


@pytest.mark.parametrize("copy", ["copy-runs", "copy-exits"])
def test_the_round_fails_unless_every_process_runs(copy: str) -> None:
    child = spawn("forks", cpus=None, command=[sys.executable, "-c", FORKS, copy])
    with running(child):
        child.ready()
        if copy == "copy-runs":
            assert len(_serving(child, 2)) == 2
        else:
            with pytest.raises(RuntimeError, match="1 of the service's processes"):
                _serving(child, 2)
