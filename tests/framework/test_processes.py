"""`chatwright run --processes N`: N processes on one address and one store, each event handled by one of them."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import psutil
import pytest

from tests.conftest import wait_until, wait_until_sync
from tests.framework.process_helpers import ready
from tests.ports import free_port

pytestmark = pytest.mark.slow

PLUGIN = """
import os
from pathlib import Path
from framework import Context, Event, Plugin

plugin = Plugin("marks")
MARKS = Path(__file__).parent / "marks"


@plugin.on("hook.received")
async def on_hook(event: Event, ctx: Context) -> None:
    MARKS.mkdir(exist_ok=True)
    (MARKS / f"{event.data['n']}-{os.getpid()}").touch()
"""

EVENTS = 40
MAX_EVENTS = 2000


def _start(bot_dir: Path, *, output: int | None = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "framework.cli", "run", str(bot_dir / "bot.toml"), "--processes", "2"],
        cwd=bot_dir,
        env={**os.environ, "PYTHONPATH": f"{bot_dir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
        stdout=subprocess.DEVNULL,
        stderr=output,
    )


def _bot(bot_dir: Path, *, plugin: str = PLUGIN) -> int:
    (bot_dir / "marks_plugin.py").write_text(plugin)
    port = free_port()
    (bot_dir / "bot.toml").write_text(
        f"[service]\nport = {port}\ndrain_timeout = 2\n"
        '[store]\nurl = "sqlite:///bot.db"\n'
        '[[webhooks]]\npath = "/hooks/in"\nevent = "hook.received"\nid_field = "id"\n'
        'verify = { scheme = "bearer", tokens = ["t0ken"] }\n'
        '[plugins]\nmodules = ["marks_plugin"]\nentry_points = false\n'
    )
    return port


def _serving(supervisor: subprocess.Popen[bytes]) -> set[int]:
    """The supervisor's live serving processes."""
    return {
        child.pid
        for child in psutil.Process(supervisor.pid).children()
        if child.status() != psutil.STATUS_ZOMBIE
    }


def _handled(bot_dir: Path) -> list[tuple[int, int]]:
    """(event number, pid of the process that handled it), for every event handled so far."""
    marks = bot_dir / "marks"
    if not marks.exists():
        return []
    return [(int(n), int(pid)) for n, pid in (name.split("-") for name in os.listdir(marks))]


async def _send_until_served_by(bot_dir: Path, port: int, pids: set[int], first: int = 0) -> int:
    """Send webhooks (numbered from `first`) until each of `pids` has handled one; returns the next number.

    A new connection per webhook: the kernel spreads connections, not requests, over the processes."""
    sent = first
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        while sent - first < MAX_EVENTS and (
            sent - first < EVENTS or not pids <= {pid for _, pid in _handled(bot_dir)}
        ):
            async with session.post(
                f"http://127.0.0.1:{port}/hooks/in",
                json={"id": f"e{sent}", "n": sent},
                headers={"Authorization": "Bearer t0ken"},
            ) as answer:
                assert answer.status == 202
            sent += 1
    await wait_until(lambda: len(_handled(bot_dir)) >= sent, timeout=20)
    return sent


@contextlib.asynccontextmanager
async def _supervised(bot_dir: Path) -> AsyncIterator[tuple[subprocess.Popen[bytes], int]]:
    """`chatwright run --processes 2` on a fresh bot, once both serving processes are up; stopped with SIGTERM
    after (when it still runs)."""
    port = _bot(bot_dir)
    service = _start(bot_dir)
    try:
        await wait_until(lambda: ready(port), timeout=20)
        await wait_until(lambda: len(_serving(service)) == 2, timeout=20)
        yield service, port
    finally:
        if service.poll() is None:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=30)


async def test_two_processes_share_the_address_and_the_inbox_and_stop_together(tmp_path: Path) -> None:
    async with _supervised(tmp_path) as (service, port):
        serving = _serving(service)
        sent = await _send_until_served_by(tmp_path, port, serving)
        seen = _handled(tmp_path)
        assert sorted(n for n, _ in seen) == list(range(sent))  # each event handled once
        assert {pid for _, pid in seen} == serving  # both serving processes, not the supervisor
    assert service.returncode == 0
    for pid in serving:
        wait_until_sync(functools.partial(_gone, pid), timeout=10)  # the supervisor stopped them


async def test_a_serving_process_that_dies_is_replaced_and_nothing_is_handled_twice(tmp_path: Path) -> None:
    async with _supervised(tmp_path) as (service, port):
        first = _serving(service)
        sent = await _send_until_served_by(tmp_path, port, first)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        await wait_until(lambda: len(_serving(service) - first) == 1, timeout=20)
        serving = _serving(service)
        assert victim not in serving and len(serving) == 2
        sent = await _send_until_served_by(tmp_path, port, serving, first=sent)
        seen = _handled(tmp_path)
        assert sorted(n for n, _ in seen) == list(range(sent))  # each event handled once, none lost
        assert service.poll() is None
    assert service.returncode == 0


async def test_serving_processes_stop_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    async with _supervised(tmp_path) as (service, _):
        serving = _serving(service)
        service.kill()
        service.wait(timeout=10)
        for pid in serving:
            # not this test's children: init reaps them once they exit
            wait_until_sync(functools.partial(_gone, pid), timeout=15)


async def test_a_config_the_processes_refuse_stops_the_supervisor_with_status_2(tmp_path: Path) -> None:
    _bot(tmp_path, plugin=PLUGIN + '\nplugin.requires("missing", "post_message")\n')
    service = _start(tmp_path, output=subprocess.PIPE)
    _, errors = service.communicate(timeout=30)
    assert service.returncode == 2
    assert b"needs adapter 'missing'" in errors
    assert b"starting another" not in errors  # not restarted: it would only fail again


def _gone(pid: int) -> bool:
    """`pid` has exited (a zombie waiting to be reaped counts as gone)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True
