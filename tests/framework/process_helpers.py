"""Real `chatwright` processes for tests: the service and the CLI as subprocesses, their readiness and metrics,
webhooks sent to them, and a RoostedHR emulator served from the test's own process, so a test reads what the
provider holds and knows which provider calls are still in flight."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from yarl import URL

from adapters.roostedhr.emulator import STATE_KEY
from adapters.roostedhr.emulator_state import RoostedState
from framework.adapter_registry import EmulatorOptions, find_adapter
from framework.testing.waiting import wait_until
from tests.ports import free_port

__all__ = [
    "RoostedEmulator",
    "Service",
    "Services",
    "chatwright",
    "processes",
    "ready",
    "send_webhooks",
]

CLI = (sys.executable, "-m", "framework.cli")
"""`chatwright` as this interpreter runs it (the console script is the same `framework.cli:main`)."""


async def ready(port: int) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/readyz") as response,
        ):
            return response.status == 200
    except aiohttp.ClientError:
        return False


def ready_now(port: int) -> bool:
    """`ready` for a test that waits without a loop (`wait_until_sync`)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def stop(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """SIGTERM, and SIGKILL if it has not stopped within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Subprocesses a test starts; those still running at its end are killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _environment(bot_dir: Path) -> dict[str, str]:
    """The test's environment, with the bot's directory importable (its plugin modules live there)."""
    return {**os.environ, "PYTHONPATH": f"{bot_dir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


async def chatwright(config: Path, *args: str, timeout: float = 60) -> str:
    """Run `chatwright COMMAND CONFIG ARGS` (args[0] is the command) beside the config, without blocking the
    loop; its output, or AssertionError if it failed."""
    command, *rest = args
    result = await asyncio.to_thread(
        subprocess.run,
        [*CLI, command, str(config), *rest],
        cwd=config.parent,
        env=_environment(config.parent),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"chatwright {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


class Service:
    """One `chatwright run CONFIG --port PORT` process, its output in `replica-PORT.log` beside the config;
    `environ` is added to its environment (for the config's `${NAME}`s)."""

    def __init__(self, config: Path, port: int, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.port = port
        self.log = config.parent / f"replica-{port}.log"
        with self.log.open("ab") as output:  # the child writes to its own copy of the file
            self.process = subprocess.Popen(
                [*CLI, "run", str(config), "--port", str(port)],
                cwd=config.parent,
                env={**_environment(config.parent), **(environ or {})},
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    async def until_ready(self, timeout: float = 20) -> None:
        async def up() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the service exited with {self.process.returncode}:\n{self.output()}")
            return await ready(self.port)

        await wait_until(up, timeout=timeout, interval=0.05)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    async def kill(self) -> None:
        """`kill -9`: nothing of it runs after this returns."""
        self.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.process.wait)

    async def metrics(self) -> dict[str, float]:
        """Its `/metrics` samples by name and labels: `chatwright_steps_total{outcome="replayed"}` -> 3.0."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.port}/metrics") as response,
        ):
            text = await response.text()
        samples = (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
        return {name: float(value) for name, value in samples}

    async def idle(self) -> bool:
        """Nothing in the inbox (ready, waiting to retry or claimed by anyone) and nothing handled here."""
        metrics = await self.metrics()
        return metrics["chatwright_inbox_pending"] == 0 and metrics["chatwright_in_flight"] == 0


class Services:
    """The services a scenario starts; any still running when it ends are killed."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.started: list[Service] = []

    async def start(self, environ: Mapping[str, str] | None = None) -> Service:
        service = Service(self.config, free_port(), environ)
        self.started.append(service)
        await service.until_ready()
        return service

    async def __aenter__(self) -> Services:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for service in self.started:
            if service.alive:
                await service.kill()


@attrs.frozen
class _Call:
    name: str
    door: int
    started: float


class RoostedEmulator:
    """RoostedHR's emulator under `/roostedhr`, as `chatwright emulate` serves it, in this process: a test reads
    its state (`state`), the provider calls it is still answering (`in_flight`) and those it carried out after
    their caller went away (`unanswered`).

    A call whose caller went away (a killed service, a client timeout) is still carried out, as by a real provider
    and by `chatwright emulate`: that is what puts a step in doubt. (aiohttp's TestServer would cancel it.)
    Each caller may be given a door of its own (`door()`, another port onto the same emulator), so that the calls
    in flight can be told apart by who made them.
    """

    CALLS = {"chats": "create_chat", "messages": "post_message"}
    """What a POST to a path ending so does; calls are counted by these names, every other call as "other"."""

    def __init__(self, options: EmulatorOptions | None = None) -> None:
        spec = find_adapter("roostedhr")
        assert spec.emulator is not None
        self.app = spec.emulator(options or EmulatorOptions())
        self.unanswered: Counter[str] = Counter()
        self._calls: dict[object, _Call] = {}
        """The calls being answered."""
        root = web.Application(middlewares=[self._count])
        root.add_subapp("/roostedhr", self.app)
        self._runner = web.AppRunner(root, access_log=None)
        self.base_url = ""
        """The first door's base URL."""

    @web.middleware
    async def _count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if "/_emulator/" in request.path:
            response: web.StreamResponse = await handler(request)
            return response
        last = request.path.rsplit("/", 1)[-1]
        name = self.CALLS.get(last, "other") if request.method == "POST" else "other"
        assert request.transport is not None
        token = object()
        self._calls[token] = _Call(name, request.transport.get_extra_info("sockname")[1], time.monotonic())
        try:
            response = await handler(request)
        finally:
            del self._calls[token]
        if request.transport is None or request.transport.is_closing():
            self.unanswered[name] += 1
        return response

    def in_flight(
        self, name: str | None = None, *, door: str | None = None, younger_than: float = math.inf
    ) -> int:
        """The calls being answered: only `name`s (create_chat, post_message, other), only those that came
        through `door` (a base URL), only those that came less than `younger_than` seconds ago."""
        port = None if door is None else URL(door).port
        now = time.monotonic()
        return sum(
            (name is None or call.name == name)
            and (port is None or call.door == port)
            and now - call.started < younger_than
            for call in self._calls.values()
        )

    async def door(self) -> str:
        """The base URL of another port onto this emulator."""
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self._runner.addresses[-1][1]}/roostedhr"

    @property
    def state(self) -> RoostedState:
        return self.app[STATE_KEY]

    async def admin(self, route: str, body: Mapping[str, Any]) -> None:
        """`POST /roostedhr/_emulator/ROUTE` with `body` (faults, script), as an operator would."""
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.base_url}/_emulator/{route}", json=dict(body)) as response,
        ):
            assert response.status == 200, await response.text()

    def quiet(self) -> bool:
        """No provider call is being answered: every call a killed process left behind has acted."""
        return not self._calls

    async def __aenter__(self) -> RoostedEmulator:
        await self._runner.setup()
        self.base_url = await self.door()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._runner.cleanup()


async def send_webhooks(
    path: str,
    token: str,
    bodies: Sequence[Mapping[str, Any]],
    ports: Sequence[int],
    *,
    rate: float | None = None,
) -> list[int]:
    """POST each body to `path` with a bearer token, spreading them over `ports`, all at once or `rate` a second;
    the indexes of those no service took (it was down: the sender would try again later). Any answer but 202 or
    a duplicate's 200 fails."""
    refused: list[int] = []
    start = time.monotonic()

    async def send(session: aiohttp.ClientSession, index: int) -> None:
        if rate is not None:
            await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))
        port = ports[index % len(ports)]
        try:
            async with session.post(
                f"http://127.0.0.1:{port}{path}",
                json=dict(bodies[index]),
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                assert response.status in (200, 202), f"{response.status}: {await response.text()}"
        except aiohttp.ClientConnectionError:
            refused.append(index)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:
        await asyncio.gather(*(send(session, index) for index in range(len(bodies))))
    return sorted(refused)
