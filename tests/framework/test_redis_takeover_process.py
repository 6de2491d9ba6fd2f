"""Replicas of the real service on one Redis: a `kill -9`ed replica's events are taken over by the others within
seconds (its heartbeat stops), long before their lease (60 s) runs out, and each is finished once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from framework.events import new_event
from tests.conftest import wait_until
from tests.framework.process_helpers import ready
from tests.ports import free_port

pytestmark = pytest.mark.slow

TAKEOVER_BOUND = 15.0
"""Seconds from the kill by which the survivors must have started every event the killed replica held."""

AUTHORIZATION = {"Authorization": "Bearer t0ken"}

PLUGIN = """
import asyncio
import os
from pathlib import Path
from framework import Context, Event, Plugin

plugin = Plugin("slow")
MARKS = Path(__file__).parent / "marks"


@plugin.on("job.run")
async def run_job(event: Event, ctx: Context) -> None:
    n, attempt, pid = event.data["n"], event.attempt, os.getpid()
    (MARKS / f"started-{n}-{attempt}-{pid}").touch()
    while not (MARKS / "go").exists():  # slow: runs until the test lets every handler finish
        await asyncio.sleep(0.05)
    (MARKS / f"done-{n}-{attempt}-{pid}").touch()
"""


def marks(bot_dir: Path, kind: str, n: int) -> list[list[str]]:
    """The (attempt, pid) of each `kind` mark ("started" or "done") of event `n`."""
    return [path.name.split("-")[2:] for path in (bot_dir / "marks").glob(f"{kind}-{n}-*")]


def start(bot_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{bot_dir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with (bot_dir / f"replica-{port}.log").open("wb") as log:  # the child writes to its own copy
        process = subprocess.Popen(
            [sys.executable, "-m", "framework.cli", "run", str(bot_dir / "bot.toml"), "--port", str(port)],
            cwd=bot_dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, port


async def post(port: int, n: int) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{port}/hooks/in", json={"id": f"hook-{n}", "n": n}, headers=AUTHORIZATION
        ) as response,
    ):
        assert response.status == 202


async def handed_over(port: int) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        text = await response.text()
    (line,) = [line for line in text.splitlines() if line.startswith("chatwright_handed_over_total ")]
    return int(float(line.split()[1]))


async def test_a_killed_replicas_events_are_taken_over_within_seconds_and_finished_once(
    tmp_path: Path,
    redis_url: str,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    from framework.store.redis import LIVENESS_TTL, RedisStore  # after the fixture checked for the package

    (tmp_path / "slow_plugin.py").write_text(PLUGIN)
    (tmp_path / "marks").mkdir()
    (tmp_path / "bot.toml").write_text(
        "[service]\nconcurrency = 8\ndrain_timeout = 2\n"  # the default lease (60 s) and poll interval
        f'[store]\nurl = "{redis_url}"\n'
        '[[webhooks]]\npath = "/hooks/in"\nevent = "job.run"\nid_field = "id"\n'
        'verify = { scheme = "bearer", tokens = ["t0ken"] }\n'
        '[plugins]\nmodules = ["slow_plugin"]\nentry_points = false\n'
    )
    doomed, doomed_port = start(tmp_path)
    processes.append(doomed)
    await wait_until(lambda: ready(doomed_port), timeout=20, interval=0.05)

    # the doomed replica holds events it claimed from the inbox (0, 1) and events handed over at append (2, 3)
    store = RedisStore(redis_url)
    await store.open()
    try:
        for n in (0, 1):
            await store.append(new_event("job.run", {"n": n}))
    finally:
        await store.close()
    await wait_until(lambda: all(marks(tmp_path, "started", n) for n in (0, 1)), timeout=10)
    for n in (2, 3):
        await post(doomed_port, n)
    await wait_until(lambda: all(marks(tmp_path, "started", n) for n in (2, 3)), timeout=10)
    assert await handed_over(doomed_port) == 2

    # two survivors, each with slow events of its own that must stay theirs
    survivors = [start(tmp_path) for _ in range(2)]
    processes.extend(process for process, _ in survivors)
    for index, (_, port) in enumerate(survivors):
        await wait_until(lambda port=port: ready(port), timeout=20, interval=0.05)  # type: ignore[misc]
        for n in (4 + 2 * index, 5 + 2 * index):
            await post(port, n)
    await wait_until(lambda: all(marks(tmp_path, "started", n) for n in range(8)), timeout=10)

    # all alive and slow, for longer than the liveness ttl: nothing is taken from anyone
    quiet_until = time.monotonic() + LIVENESS_TTL + 2
    while time.monotonic() < quiet_until:
        assert [len(marks(tmp_path, "started", n)) for n in range(8)] == [1] * 8
        await asyncio.sleep(0.1)

    doomed.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    doomed.wait()
    survivor_pids = {str(process.pid) for process, _ in survivors}

    def taken_over() -> bool:
        return all(
            any(attempt == "2" and pid in survivor_pids for attempt, pid in marks(tmp_path, "started", n))
            for n in range(4)
        )

    await wait_until(taken_over, timeout=TAKEOVER_BOUND, interval=0.05)
    takeover = time.monotonic() - killed_at
    print(f"\ntakeover after kill -9: {takeover:.2f} s (liveness ttl {LIVENESS_TTL} s)")
    (tmp_path / "marks" / "go").touch()
    await wait_until(lambda: all(marks(tmp_path, "done", n) for n in range(8)), timeout=10)
    assert time.monotonic() - killed_at < TAKEOVER_BOUND

    assert {n: len(marks(tmp_path, "done", n)) for n in range(8)} == {n: 1 for n in range(8)}
    doomed_pid = str(doomed.pid)
    for n in range(4):
        assert sorted(marks(tmp_path, "started", n))[0] == ["1", doomed_pid]
    for n in range(4, 8):  # the survivors' own events stayed theirs
        assert [attempt for attempt, _ in marks(tmp_path, "started", n)] == ["1"]
