"""The real service as a subprocess: readiness, SIGTERM drain, and no accepted event lost to `kill -9`."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from framework.events import new_event
from framework.store.sqlite import SQLiteStore
from tests.conftest import require_service, wait_until, wait_until_sync
from tests.framework.process_helpers import ready
from tests.ports import free_port

pytestmark = pytest.mark.slow

PLUGIN = """
import asyncio
import os
from pathlib import Path
from framework import Context, Event, Plugin

plugin = Plugin("crashy")
MARKS = Path(__file__).parent / "marks"


@plugin.on("hook.received")
async def on_hook(event: Event, ctx: Context) -> None:
    if os.environ.get("CRASHY_HOLD"):
        await asyncio.Event().wait()  # this process never finishes it: only a restart can
    MARKS.mkdir(exist_ok=True)
    (MARKS / f"hook-{event.data['n']}").touch()

@plugin.on("job.run")
async def run_job(event: Event, ctx: Context) -> None:
    MARKS.mkdir(exist_ok=True)
    (MARKS / f"started-{event.data['n']}-{event.attempt}").touch()
    if event.data.get("hang_first") and event.attempt == 1:
        await asyncio.Event().wait()
    (MARKS / f"done-{event.data['n']}").touch()
"""


@pytest.fixture
def bot_dir(tmp_path: Path) -> Path:
    (tmp_path / "crashy_plugin.py").write_text(PLUGIN)
    port = free_port()
    (tmp_path / "bot.toml").write_text(
        f"[service]\nport = {port}\ndrain_timeout = 2\npoll_interval = 0.05\n"
        '[store]\nurl = "sqlite:///bot.db"\n'
        "[retry]\nbase_delay = 0.05\n"
        '[[webhooks]]\npath = "/hooks/in"\nevent = "hook.received"\nid_field = "id"\n'
        'verify = { scheme = "bearer", tokens = ["t0ken"] }\n'
        '[plugins]\nmodules = ["crashy_plugin"]\nentry_points = false\n'
    )
    return tmp_path


def start_service(bot_dir: Path, **extra_env: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{bot_dir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        **extra_env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "framework.cli", "run", str(bot_dir / "bot.toml")],
        cwd=bot_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def port_of(bot_dir: Path) -> int:
    text = (bot_dir / "bot.toml").read_text()
    return int(text.split("port = ")[1].split("\n")[0])


async def append(bot_dir: Path, **data: object) -> None:
    store = SQLiteStore(f"sqlite:///{bot_dir}/bot.db")
    await store.open()
    try:
        await store.append(new_event("job.run", dict(data)))
    finally:
        await store.close()


async def test_event_in_flight_during_kill_9_is_handled_after_restart(
    bot_dir: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    port = port_of(bot_dir)
    processes.append(start_service(bot_dir))
    await wait_until(lambda: ready(port), timeout=20, interval=0.05)
    await append(bot_dir, n=1, hang_first=True)
    marks = bot_dir / "marks"
    await wait_until(lambda: (marks / "started-1-1").exists(), timeout=10)
    processes[0].send_signal(signal.SIGKILL)
    processes[0].wait()
    assert not (marks / "done-1").exists()

    processes.append(start_service(bot_dir))
    await wait_until(lambda: (marks / "done-1").exists(), timeout=20)
    assert (marks / "started-1-2").exists()


@pytest.mark.parametrize(
    "event_loop",
    [
        pytest.param(
            "uvloop",
            marks=pytest.mark.skipif(
                importlib.util.find_spec("uvloop") is None, reason="uvloop is not installed (the fast extra)"
            ),
        ),
        "asyncio",
    ],
)
async def test_sigterm_drains_and_exits_zero_leaving_the_rest_in_the_inbox(
    bot_dir: Path, processes: list[subprocess.Popen[bytes]], event_loop: str
) -> None:
    config = bot_dir / "bot.toml"
    config.write_text(
        config.read_text().replace("[service]\n", f'[service]\nevent_loop = "{event_loop}"\n', 1)
    )
    port = port_of(bot_dir)
    process = start_service(bot_dir)
    processes.append(process)
    await wait_until(lambda: ready(port), timeout=20, interval=0.05)
    await append(bot_dir, n=1)
    await wait_until(lambda: (bot_dir / "marks" / "done-1").exists(), timeout=10)
    await append(bot_dir, n=2, hang_first=True)
    await wait_until(lambda: (bot_dir / "marks" / "started-2-1").exists(), timeout=10)
    process.send_signal(signal.SIGTERM)
    code = await asyncio.get_running_loop().run_in_executor(None, process.wait, 30)
    output = process.stdout.read().decode() if process.stdout else ""
    assert code == 0, output
    assert f":{port} ({event_loop})" in output
    assert "left 1 unfinished event" in output
    store = SQLiteStore(f"sqlite:///{bot_dir}/bot.db")
    await store.open()
    try:
        (entry,) = await store.claim("inspector", 10, lease=30)
        assert entry.event.data["n"] == 2 and entry.attempt == 1
    finally:
        await store.close()


async def test_kill_9_right_after_a_202_loses_nothing(
    bot_dir: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    port = port_of(bot_dir)
    processes.append(start_service(bot_dir, CRASHY_HOLD="1"))
    await wait_until(lambda: ready(port), timeout=20, interval=0.05)
    headers = {"Authorization": "Bearer t0ken"}
    async with aiohttp.ClientSession() as session:
        for n in range(5):
            async with session.post(
                f"http://127.0.0.1:{port}/hooks/in", json={"id": f"d-{n}", "n": n}, headers=headers
            ) as response:
                assert response.status == 202
    processes[0].send_signal(signal.SIGKILL)  # right after the last 202
    processes[0].wait()

    processes.append(start_service(bot_dir))
    marks = bot_dir / "marks"
    await wait_until(lambda: all((marks / f"hook-{n}").exists() for n in range(5)), timeout=20)


def test_wait_helper_is_usable_synchronously(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    flag.touch()
    wait_until_sync(flag.exists, timeout=1)


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_a_service_that_cannot_bind_its_port_starts_nothing(
    bot_dir: Path, processes: list[subprocess.Popen[bytes]], store: str
) -> None:
    """With its port taken, `run` fails before the scheduler writes its static jobs to a (shared) job store,
    before any startup hook, without logging "ready", naming the address."""
    config = bot_dir / "bot.toml"
    text = config.read_text() + '[[schedules]]\nid = "tick"\ncron = "* * * * *"\nevent = "job.run"\n'
    prefix = f"cw-test-bind-{os.getpid()}-{id(bot_dir)}"
    client = None
    if store == "redis":
        redis = pytest.importorskip("redis")
        client = redis.Redis.from_url("redis://127.0.0.1:6379/15")
        try:
            client.ping()
        except redis.RedisError as error:
            require_service("redis", False, str(error))
        text = text.replace('"sqlite:///bot.db"', f'"redis://127.0.0.1:6379/15?prefix={prefix}"')
    config.write_text(text)
    (bot_dir / "hooked_plugin.py").write_text(
        "from pathlib import Path\nfrom framework import Plugin\nplugin = Plugin('hooked')\n"
        "@plugin.on_startup\nasync def started(ctx):\n    (Path(__file__).parent / 'started').touch()\n"
    )
    config.write_text(config.read_text().replace('["crashy_plugin"]', '["crashy_plugin", "hooked_plugin"]'))
    port = port_of(bot_dir)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        process = start_service(bot_dir)
        processes.append(process)
        code = await asyncio.get_running_loop().run_in_executor(None, process.wait, 30)
    output = process.stdout.read().decode() if process.stdout else ""
    assert code != 0, output
    assert f"cannot listen on 127.0.0.1:{port}" in output and "already in use" in output, output
    assert "ready:" not in output and "schedules started" not in output, output
    assert "Traceback" not in output, output
    assert not (bot_dir / "started").exists()
    if client is not None:
        try:
            assert client.keys(f"{prefix}*") == []
        finally:
            client.delete(*client.keys(f"{prefix}*") or ["-"])
            client.close()
    else:
        assert not (bot_dir / "bot.db").exists()
