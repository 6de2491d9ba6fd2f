"""`chatwright run --processes N`: N processes on one address and one store, each event handled by one of them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _start(bot_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "framework.cli", "run", str(bot_dir / "bot.toml"), "--processes", "2"],
        cwd=bot_dir,
        env={**os.environ, "PYTHONPATH": f"{bot_dir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_two_processes_share_the_address_and_the_inbox_and_stop_together(tmp_path: Path) -> None:
    (tmp_path / "marks_plugin.py").write_text(PLUGIN)
    port = free_port()
    (tmp_path / "bot.toml").write_text(
        f"[service]\nport = {port}\ndrain_timeout = 2\n"
        '[store]\nurl = "sqlite:///bot.db"\n'
        '[[webhooks]]\npath = "/hooks/in"\nevent = "hook.received"\nid_field = "id"\n'
        'verify = { scheme = "bearer", tokens = ["t0ken"] }\n'
        '[plugins]\nmodules = ["marks_plugin"]\nentry_points = false\n'
    )
    service = _start(tmp_path)
    try:
        await wait_until(lambda: ready(port), timeout=20)
        marks = tmp_path / "marks"

        def handled() -> list[list[str]]:
            return [name.split("-") for name in os.listdir(marks)] if marks.exists() else []

        # A new connection per webhook: the kernel spreads connections, not requests, over the processes. The
        # second process may still be starting when the first is ready: send until both have handled some.
        sent = 0
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            while sent < MAX_EVENTS and (sent < EVENTS or len({pid for _, pid in handled()}) < 2):
                async with session.post(
                    f"http://127.0.0.1:{port}/hooks/in",
                    json={"id": f"e{sent}", "n": sent},
                    headers={"Authorization": "Bearer t0ken"},
                ) as answer:
                    assert answer.status == 202
                sent += 1
        await wait_until(lambda: len(handled()) >= sent, timeout=20)
        seen = handled()
        assert sorted(int(n) for n, _ in seen) == list(range(sent))  # each event handled once
        pids = {int(pid) for _, pid in seen}
        assert len(pids) == 2 and service.pid in pids  # both processes served
        (child,) = pids - {service.pid}
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)
    assert service.returncode == 0
    wait_until_sync(lambda: not _alive(child), timeout=10)  # the first process stopped the other
