"""BotHarness: a whole bot - service, store, worker - running in the test's event loop against the emulators.

```python
async with BotHarness.from_config("bots/shiftchat/bot.toml") as bot:
    await bot.emit("shift.published", {...})          # returns when it and what it caused are handled
    assert bot.requests("roosted", method="POST")      # the provider calls the emulator received
```
Each adapter of the config gets its own emulator on a free local port, with the credentials it accepts; the
store is a fresh SQLite file; handler retries wait milliseconds instead of seconds.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import attrs
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from framework import jsoncodec
from framework.adapter_registry import EmulatorOptions, find_adapter
from framework.chats import ChatProvider
from framework.config import Config, config_from_dict, load_config
from framework.context import ScheduledJob
from framework.dispatch import Middleware, timing_middleware
from framework.emulation import FAULTS_KEY, RecordedRequest, ScriptedAnswer
from framework.events import Event, new_event
from framework.plugins import Plugin
from framework.retries import HandlerRetry
from framework.runtime import Runtime
from framework.service import create_app
from framework.store.base import DeadLetter
from framework.triggers.polling import POLL_EVENT
from framework.worker import Disposition

__all__ = ["BotHarness"]


class BotHarness:
    """Runs a configured bot for a test; use it as an async context manager."""

    def __init__(
        self,
        config: Config,
        *,
        plugins: Sequence[Plugin] | None = None,
        providers: Mapping[str, ChatProvider] | None = None,
        emulator_options: EmulatorOptions | None = None,
        fast_retries: bool = True,
        middlewares: Sequence[Middleware] = (timing_middleware,),
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="chatwright-test-")
        store_url = f"sqlite:///{Path(self._tmp.name) / 'bot.db'}"
        retry = (
            HandlerRetry(attempts=config.retry.attempts, base_delay=0.01, max_delay=0.05)
            if fast_retries
            else config.retry
        )
        service = attrs.evolve(config.service, poll_interval=0.02)
        self.config = attrs.evolve(
            config, store=attrs.evolve(config.store, url=store_url), retry=retry, service=service
        )
        self._plugins = plugins
        self._providers = dict(providers or {})
        self._emulator_options = emulator_options or EmulatorOptions()
        self._middlewares = middlewares
        self.emulators: dict[str, web.Application] = {}
        self._servers: list[TestServer] = []
        self.dispositions: list[Disposition] = []
        self.runtime: Runtime | None = None
        self.client: TestClient[web.Request, web.Application] | None = None

    # -- construction ------------------------------------------------------------------------------------------

    @classmethod
    def from_config(
        cls, path: str | Path, *, environ: Mapping[str, str] | None = None, **kwargs: Any
    ) -> BotHarness:
        """The bot a config file describes; `${ENV}` values come from `environ` (default: an empty environment
        plus each variable's `${NAME:-default}`)."""
        return cls(load_config(path, environ=environ or {}), **kwargs)

    @classmethod
    def from_plugins(
        cls,
        *plugins: Plugin,
        adapters: Mapping[str, Mapping[str, Any]] | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        providers: Mapping[str, ChatProvider] | None = None,
        config: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> BotHarness:
        """A bot made of `plugins` only. `adapters` are `[adapters.NAME]` tables (base_url may be left out: each
        runs against its emulator); `settings` are the plugins' `[plugins.NAME]` tables; `providers` adds
        ready-made providers such as a RecordingProvider."""
        raw: dict[str, Any] = dict(config or {})
        tables: dict[str, Any] = {}
        for name, table in (adapters or {}).items():
            spec = find_adapter(str(table["provider"]))
            tables[name] = {"base_url": "http://emulator.invalid", **dict(spec.emulator_settings), **table}
        raw["adapters"] = tables
        raw["plugins"] = {"entry_points": False, **{k: dict(v) for k, v in (settings or {}).items()}}
        parsed = config_from_dict(raw, Path.cwd() / "test.toml", "test.toml", {})
        parsed = attrs.evolve(parsed, plugins=attrs.evolve(parsed.plugins, modules=()))
        return cls(parsed, plugins=list(plugins), providers=providers, **kwargs)

    # -- lifecycle ---------------------------------------------------------------------------------------------

    async def __aenter__(self) -> BotHarness:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        adapters = dict(self.config.adapters)
        for name, adapter_config in self.config.adapters.items():
            if name in self._providers:
                continue
            spec = find_adapter(adapter_config.provider)
            if spec.emulator is None:
                continue
            app = spec.emulator(self._emulator_options)
            server = TestServer(app, host="127.0.0.1")
            await server.start_server()
            self._servers.append(server)
            self.emulators[name] = app
            base_url = str(server.make_url("")).rstrip("/")
            adapters[name] = attrs.evolve(adapter_config, base_url=base_url, **dict(spec.emulator_settings))
        self.config = attrs.evolve(self.config, adapters=adapters)
        if self._plugins is not None:
            self.config = attrs.evolve(self.config, plugins=attrs.evolve(self.config.plugins, modules=()))
        runtime = Runtime(
            self.config,
            plugins=self._plugins,
            providers=None if not self._providers else self._all_providers(),
            middlewares=self._middlewares,
            listeners=[self._record],
            auto_poll=False,  # `write` and `poll` poll when the test says, so a test sees the same requests each run
        )
        self.runtime = runtime
        self.client = TestClient(TestServer(create_app(runtime), host="127.0.0.1"))
        await self.client.start_server()
        for route in self.config.webhooks:
            secrets = getattr(route.verify, "secrets", ())
            if route.adapter in self.emulators and secrets:
                await self._emulator_post(
                    route.adapter or "",
                    "/_emulator/webhook",
                    {"url": str(self.client.make_url(route.path)), "secret": secrets[0]},
                )

    def _record(self, disposition: Disposition) -> None:
        # the poller's own events are machinery, not the bot's: a test counts what its handlers did
        if disposition.outcome.event.type != POLL_EVENT:
            self.dispositions.append(disposition)

    def _all_providers(self) -> dict[str, ChatProvider]:
        from framework.runtime import build_providers

        built = build_providers(
            attrs.evolve(
                self.config,
                adapters={k: v for k, v in self.config.adapters.items() if k not in self._providers},
            )
        )
        return {**built, **self._providers}

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None
        for server in self._servers:
            await server.close()
        self._servers.clear()
        self._tmp.cleanup()

    # -- driving -----------------------------------------------------------------------------------------------

    @property
    def _runtime(self) -> Runtime:
        if self.runtime is None:
            raise RuntimeError("the harness is not started: use `async with BotHarness(...) as bot`")
        return self.runtime

    async def emit(
        self, type: str, data: dict[str, Any] | None = None, *, id: str | None = None, timeout: float = 10.0
    ) -> list[Disposition]:
        """Append an event and wait until it, and everything it caused, is handled; returns those outcomes."""
        event = new_event(type, data, id=id, source="test")
        await self.append(event)
        await self.settle(timeout)
        return [d for d in self.dispositions if d.outcome.event.trace_id == event.trace_id]

    async def append(self, event: Event, ordering_key: str | None = None) -> bool:
        """Append an event without waiting; False if the store took it for a duplicate."""
        result = await self._runtime.store.append(event, ordering_key=ordering_key)
        return not result.duplicate

    async def post(
        self,
        path: str,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        """POST to the service (a webhook route) and return (status, decoded JSON answer)."""
        assert self.client is not None, "the harness is not started"
        data = raw if raw is not None else jsoncodec.dumps(body)
        response = await self.client.post(
            path, data=data, headers={"Content-Type": "application/json", **dict(headers or {})}
        )
        text = await response.text()
        try:
            decoded = jsoncodec.loads(text) if text else None
        except ValueError:
            decoded = text
        return response.status, decoded

    async def get(self, path: str) -> aiohttp.ClientResponse:
        assert self.client is not None, "the harness is not started"
        return await self.client.get(path)

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until the inbox is empty and no handler runs (retries included)."""
        import asyncio

        runtime = self._runtime
        deadline = time.monotonic() + timeout
        while True:
            if runtime.worker.in_flight == 0 and await runtime.store.pending() == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the bot did not settle within {timeout}s: {await runtime.store.pending()} event(s) pending"
                )
            await asyncio.sleep(0.005)

    async def write(
        self, adapter: str, chat_id: str, sender_id: str, text: str, *, timeout: float = 10.0
    ) -> list[Disposition]:
        """A person (`sender_id`) writes `text` into a chat at adapter `adapter`'s emulator; returns when the bot
        has heard it - pushed by the emulator's webhook, or polled at once rather than at the next interval -
        and everything it caused is handled, with the outcomes of the `chat.message` events handled meanwhile."""
        before = len(self.dispositions)
        await self._emulator_post(
            adapter, "/_emulator/messages", {"chat_id": chat_id, "sender_id": sender_id, "text": text}
        )
        await self.poll(adapter)
        await self.settle(timeout)
        return [d for d in self.dispositions[before:] if d.outcome.event.type == "chat.message"]

    async def poll(self, adapter: str) -> None:
        """Poll adapter `adapter`'s watched chats now (nothing when it is not polled)."""
        poller = self._runtime.poller
        if poller is not None and adapter in poller.settings.adapters:
            await poller.poll(adapter)

    async def _emulator_post(self, adapter: str, path: str, body: Any) -> Any:
        app = self.emulators.get(adapter)
        if app is None:
            raise KeyError(f"no emulator runs for adapter {adapter!r} (running: {', '.join(self.emulators)})")
        server = next(server for server in self._servers if server.app is app)
        async with (
            aiohttp.ClientSession() as session,
            session.post(server.make_url(path), json=body) as response,
        ):
            answer = await response.text()
            if response.status >= 300:
                raise RuntimeError(f"{adapter} emulator: POST {path} answered {response.status}: {answer}")
            return jsoncodec.loads(answer) if answer else None

    async def advance_to(self, moment: datetime | str, timeout: float = 10.0) -> list[Disposition]:
        """The controllable clock: fire every schedule due at `moment` (aware datetime or ISO 8601) as if that
        time had come, wait until their events are handled, and return those outcomes."""
        schedules = self._runtime.schedules
        if schedules is None:
            raise RuntimeError("this bot runs without schedules")
        when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
        before = len(self.dispositions)
        await schedules.fire_due(when)
        await self.settle(timeout)
        return [d for d in self.dispositions[before:] if d.outcome.event.source.startswith("schedule:")]

    # -- inspecting --------------------------------------------------------------------------------------------

    def requests(
        self, adapter: str, *, method: str | None = None, path: str | None = None
    ) -> list[RecordedRequest]:
        """The requests adapter `adapter`'s emulator received (admin calls left out), optionally filtered by
        method and by a substring of the path."""
        app = self.emulators.get(adapter)
        if app is None:
            raise KeyError(f"no emulator runs for adapter {adapter!r} (running: {', '.join(self.emulators)})")
        return [
            request
            for request in app[FAULTS_KEY].requests
            if (method is None or request.method == method.upper()) and (path is None or path in request.path)
        ]

    async def scheduled_jobs(self) -> list[ScheduledJob]:
        """The dynamic jobs handlers scheduled (`ctx.schedule`), soonest first."""
        schedules = self._runtime.schedules
        return [] if schedules is None else await schedules.list()

    def script(self, adapter: str, **answer: Any) -> None:
        """Make adapter `adapter`'s emulator give a scripted answer (`status`, `retry_after`, `body`, `method`,
        `path` - a glob, e.g. `*/messages` - and `times`): an error before it acts, or a 2xx after (see
        framework.emulation)."""
        app = self.emulators.get(adapter)
        if app is None:
            raise KeyError(f"no emulator runs for adapter {adapter!r} (running: {', '.join(self.emulators)})")
        app[FAULTS_KEY].scripted.append(ScriptedAnswer(**answer))

    def provider(self, name: str) -> ChatProvider:
        return self._runtime.providers[name]

    async def dead_letters(self) -> list[DeadLetter]:
        return await self._runtime.store.dead_letters()

    async def state(self, plugin: str, key: str) -> Any:
        return await self._runtime.store.state_get(plugin, key)
