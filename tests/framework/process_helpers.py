"""Real `chatwright` processes for tests: the service and the CLI as subprocesses, their readiness and metrics,
webhooks sent to them, and a RoostedHR emulator served from the test's own process, so a test reads what the
provider holds and knows which provider calls are still in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.roostedhr.emulator import STATE_KEY
from adapters.roostedhr.emulator_state import RoostedState
from framework.adapter_registry import EmulatorOptions, find_adapter
from framework.testing.waiting import wait_until

__all__ = [
    "RoostedEmulator",
    "Service",
    "Services",
    "chatwright",
    "free_port",
    "processes",
    "ready",
    "send_webhooks",
]

CLI = (sys.executable, "-m", "framework.cli")
"""`chatwright` as this interpreter runs it (the console script is the same `framework.cli:main`)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def ready(port: int) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/readyz") as response,
        ):
            return response.status == 200
    except aiohttp.ClientError:
        return False


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
    """One `chatwright run CONFIG --port PORT` process, its output in `replica-PORT.log` beside the config."""

    def __init__(self, config: Path, port: int) -> None:
        self.config = config
        self.port = port
        self.log = config.parent / f"replica-{port}.log"
        with self.log.open("ab") as output:  # the child writes to its own copy of the file
            self.process = subprocess.Popen(
                [*CLI, "run", str(config), "--port", str(port)],
                cwd=config.parent,
                env=_environment(config.parent),
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

    async def start(self, port: int | None = None) -> Service:
        service = Service(self.config, port or free_port())
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


class RoostedEmulator:
    """RoostedHR's emulator under `/roostedhr`, as `chatwright emulate` serves it, in this process: a test reads
    its state (`state`), the provider calls it is still answering (`in_flight`) and those it carried out after
    their caller went away (`unanswered`).

    A call whose caller went away (a killed service, a client timeout) is still carried out, as by a real provider
    and by `chatwright emulate`: that is what puts a step in doubt. (aiohttp's TestServer would cancel it.)
    """

    CALLS = {"chats": "create_chat", "messages": "post_message"}
    """What a POST to a path ending so does; calls are counted by these names, every other call as "other"."""

    def __init__(self, options: EmulatorOptions | None = None) -> None:
        spec = find_adapter("roostedhr")
        assert spec.emulator is not None
        self.app = spec.emulator(options or EmulatorOptions())
        self.in_flight: Counter[str] = Counter()
        self.unanswered: Counter[str] = Counter()
        root = web.Application(middlewares=[self._count])
        root.add_subapp("/roostedhr", self.app)
        self._runner = web.AppRunner(root, access_log=None)
        self._port = 0

    @web.middleware
    async def _count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if "/_emulator/" in request.path:
            response: web.StreamResponse = await handler(request)
            return response
        last = request.path.rsplit("/", 1)[-1]
        call = self.CALLS.get(last, "other") if request.method == "POST" else "other"
        self.in_flight[call] += 1
        try:
            response = await handler(request)
        finally:
            self.in_flight[call] -= 1
        if request.transport is None or request.transport.is_closing():
            self.unanswered[call] += 1
        return response

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/roostedhr"

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
        """No provider request is being answered: every call a killed process left behind has acted."""
        return not any(self.in_flight.values())

    async def __aenter__(self) -> RoostedEmulator:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._runner.cleanup()


async def send_webhooks(
    path: str, token: str, bodies: Sequence[Mapping[str, Any]], ports: Sequence[int]
) -> list[int]:
    """POST each body to `path` with a bearer token, spreading them over `ports`; the indexes of those no service
    took (it was down: the sender would try again later). Any answer but 202 or a duplicate's 200 fails."""
    refused: list[int] = []

    async def send(session: aiohttp.ClientSession, index: int) -> None:
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
