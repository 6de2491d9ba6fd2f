"""The runtime: everything a config describes, assembled and started - store, adapters, plugins, dispatcher,
worker, schedules and webhook routes. The service, `chatwright emit` and the testing kit all build one of these.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import attrs

from framework.adapter_registry import find_adapter
from framework.chat_watch import RecordingProvider
from framework.chats import Capability, ChatProvider
from framework.config import Config, make_converter
from framework.context import Chats, Context, ScheduleApi, SchedulesUnavailable
from framework.dispatch import Dispatcher, Middleware, timing_middleware
from framework.errors import ConfigError
from framework.events import Event, new_event
from framework.http import SHARED_RATE_HEADROOM
from framework.loading import load_plugins, structure_plugin_configs
from framework.messages import MESSAGE_EVENT
from framework.metrics import Metrics
from framework.metrics_readings import Readings
from framework.plugins import CronSpec, Plugin
from framework.schedules.service import ScheduleService
from framework.steps import Steps, StepSettings
from framework.store.base import DEFAULT_DEDUPE_TTL, AppendResult, Store
from framework.store.factory import open_store
from framework.tracing import Tracer, open_tracer
from framework.triggers.polling import Poller, PollSettings, polled_adapters
from framework.triggers.webhook_receiver import WebhookReceiver
from framework.worker import OutcomeListener, Worker

__all__ = ["Runtime", "build_providers", "needs_problems", "resolve_plugins", "resolve_plugins_from"]

log = logging.getLogger("chatwright.runtime")

HOOK_TIMEOUT = 60.0
"""Seconds a plugin's startup or shutdown hook may take before it is given up."""


def build_providers(
    config: Config, store: Store | None = None, metrics: Metrics | None = None, tracer: Tracer | None = None
) -> dict[str, ChatProvider]:
    """One provider object per `[adapters.NAME]` table.

    With a store that shares rate limits across processes (Redis), an adapter's `rate_limit` is paced through
    the store's limiter, so it holds for the whole service; otherwise each process paces alone. With `metrics`,
    each adapter's requests are counted and timed there (and traced with `tracer`).
    """
    providers: dict[str, ChatProvider] = {}
    for name, adapter_config in config.adapters.items():
        spec = find_adapter(adapter_config.provider)
        if metrics is not None:
            adapter_config = adapter_config.with_observer(metrics.provider(name, tracer))
        if store is not None and adapter_config.rate_limit:
            limiter = store.rate_limiter(name, adapter_config.rate_limit * (1 - SHARED_RATE_HEADROOM))
            if limiter is not None:
                adapter_config = adapter_config.with_limiter(limiter)
        providers[name] = spec.build(name, adapter_config)
    return providers


def needs_problems(
    config: Config, plugins: Sequence[Plugin], providers: Mapping[str, ChatProvider]
) -> list[str]:
    """What the plugins declared with `plugin.requires(...)` and the configured adapters do not offer: an adapter
    not configured, an operation unknown or not supported by its provider. `chatwright check` reports these;
    `chatwright run` refuses to start with them (unless `--no-check`)."""
    problems: list[str] = []
    operations = {c.value for c in Capability}
    for plugin in plugins:
        for need in sorted(plugin.needs):
            adapter, _, operation = need.partition(":")
            needed = providers.get(adapter)
            if needed is None:
                problems.append(f"plugin {plugin.name} needs adapter {adapter!r}, which is not configured")
            elif operation not in operations:
                problems.append(f"plugin {plugin.name}: unknown operation {operation!r}")
            elif Capability(operation) not in needed.capabilities:
                problems.append(
                    f"plugin {plugin.name} needs {operation} on adapter {adapter!r}, which"
                    f" {config.adapters[adapter].provider} does not support"
                )
    return list(dict.fromkeys(problems))  # an adapter missing for several operations is one problem


def resolve_plugins(config: Config) -> tuple[list[Plugin], dict[str, Any]]:
    """Load the configured plugins and structure their config tables."""
    plugins = load_plugins(
        config.plugins.modules,
        use_entry_points=config.plugins.entry_points,
        file_name=config.name,
        search=[config.path.parent],
    )
    return resolve_plugins_from(config, plugins)


def resolve_plugins_from(config: Config, plugins: Sequence[Plugin]) -> tuple[list[Plugin], dict[str, Any]]:
    """Use the given plugins instead of loading modules, still structuring their config tables."""
    configs, problems = structure_plugin_configs(
        plugins, config.plugins.settings, make_converter(), config.name
    )
    if problems:
        raise ConfigError(problems)
    return list(plugins), configs


class Runtime:
    """A configured bot: call `start()`, then events flow; `stop()` drains and closes everything."""

    def __init__(
        self,
        config: Config,
        *,
        plugins: Sequence[Plugin] | None = None,
        providers: Mapping[str, ChatProvider] | None = None,
        store: Store | None = None,
        middlewares: Sequence[Middleware] = (timing_middleware,),
        listeners: Sequence[OutcomeListener] = (),
        with_schedules: bool = True,
        metrics: Metrics | None = None,
        tracer: Tracer | None = None,
        auto_poll: bool = True,
    ) -> None:
        self.config = config
        self.auto_poll = auto_poll
        """Fire polls every interval; without it chats are polled only when asked (`poller.poll`, the testing kit)."""
        if plugins is None:
            self.plugins, self.plugin_configs = resolve_plugins(config)
        else:
            self.plugins, self.plugin_configs = resolve_plugins_from(config, plugins)
        self.store = store or open_store(config.store.url)
        self.tracer = tracer if tracer is not None else open_tracer(config.tracing)
        """Spans for webhooks, handlers and provider calls; None with tracing off (the default)."""
        self.metrics = metrics or Metrics()
        """This runtime's series (its own registry), served at `/metrics`; given when `providers` were built
        with it (`build_providers(..., metrics)`)."""
        self.providers: dict[str, ChatProvider] = (
            dict(providers)
            if providers is not None
            else build_providers(config, self.store, self.metrics, self.tracer)
        )
        self.store.step_ttl = config.service.step_ttl
        self.store.history_size = config.store.history_size
        self.store.history_age = config.store.history_age
        self.steps: Steps | None = (
            Steps(
                self.store,
                StepSettings(
                    ttl=config.service.step_ttl,
                    in_doubt={name: adapter.in_doubt for name, adapter in config.adapters.items()},
                ),
            )
            if config.service.steps
            else None
        )
        self.poller = self._poller(config)
        crons: list[CronSpec] = [cron for plugin in self.plugins for cron in plugin.crons]
        self.schedules: ScheduleService | None = (
            ScheduleService(
                self.store, config.store.url, [*config.schedules, *crons], append=self._append_fire
            )
            if with_schedules
            else None
        )
        schedule_api: ScheduleApi = self.schedules if self.schedules is not None else SchedulesUnavailable()
        self.dispatcher = Dispatcher(
            [*self.plugins, self.poller.plugin] if self.poller is not None else self.plugins,
            store=self.store,
            chats=Chats(self._chats_for_handlers()),
            emitter=self._emit,
            schedule_api=schedule_api,
            plugin_configs=self.plugin_configs,
            middlewares=[*middlewares, *(m for plugin in self.plugins for m in plugin.middlewares)],
            handler_timeout=config.service.handler_timeout,
            steps=self.steps,
            observe=self.metrics.handler,
            tracer=self.tracer,
            command_prefix=config.conversations.command_prefix,
        )
        self.worker = Worker(
            self.store,
            self.dispatcher,
            concurrency=config.service.concurrency,
            max_share=config.service.max_share,
            lease=config.service.lease,
            retry=config.retry,
            poll_interval=config.service.poll_interval,
            listeners=[self.metrics.record, *listeners],
            webhook_backlog=config.service.webhook_backlog,
        )
        self.webhooks = WebhookReceiver(
            list(config.webhooks),
            self.worker.intake,
            read_timeout=config.service.read_timeout,
            handlers=[handler for plugin in self.plugins for handler in plugin.handlers],
            observe=self.metrics.webhook,
            tracer=self.tracer,
            providers=self.providers,
        )
        self._worker_task: asyncio.Task[None] | None = None
        self._store_open = False
        self.ready = False

    def _poller(self, config: Config) -> Poller | None:
        """The poller of the adapters whose chats are watched, when some handler listens to chat messages."""
        if not any(h.matches_type(MESSAGE_EVENT) for plugin in self.plugins for h in plugin.handlers):
            return None
        pushed = [route.adapter for route in config.webhooks if route.adapter is not None]
        adapters = polled_adapters(self.providers, pushed, config.conversations.poll)
        unknown = [name for name in adapters if name not in self.providers]
        if unknown:
            raise ConfigError(f"conversations.poll: {', '.join(unknown)}: no such adapter is configured")
        if not adapters:
            return None
        settings = PollSettings(
            interval=config.conversations.poll_interval,
            concurrency=config.conversations.poll_concurrency,
            adapters=adapters,
            watch=config.conversations.watch,
            # a pass that would outlive the handler timeout is cut short: the next starts where it stopped
            pass_limit=None if config.service.handler_timeout is None else config.service.handler_timeout / 2,
        )
        return Poller(self.store, self.providers, settings, self._append)

    def _chats_for_handlers(self) -> dict[str, ChatProvider]:
        """`ctx.chats`: a polled adapter also watches every chat the handlers create through it."""
        if self.poller is None:
            return self.providers
        polled = set(self.poller.settings.adapters)
        return {
            name: RecordingProvider(provider, self.poller.watched) if name in polled else provider  # type: ignore[misc]
            for name, provider in self.providers.items()
        }

    def _append(
        self, event: Event, *, ordering_key: str | None = None, dedupe_ttl: float = DEFAULT_DEDUPE_TTL
    ) -> Awaitable[AppendResult]:
        """Append through the worker (built after the schedules, which store their fires with this): a running
        worker with a free handler slot starts the event at once, without claiming it from the inbox."""
        return self.worker.append(event, ordering_key=ordering_key, dedupe_ttl=dedupe_ttl)

    async def _append_fire(
        self, event: Event, *, ordering_key: str | None = None, dedupe_ttl: float = DEFAULT_DEDUPE_TTL
    ) -> AppendResult:
        """Append a schedule fire (its `occurred_at` is the planned time), measuring how late it is."""
        result = await self._append(event, ordering_key=ordering_key, dedupe_ttl=dedupe_ttl)
        if not result.duplicate:
            self.metrics.schedule_fired((event.received_at - event.occurred_at).total_seconds())
        return result

    async def readings(self) -> Readings:
        """This process's counters and, when the store answers, the shared inbox's state (for `/metrics`)."""
        inbox = None
        if self.ready:
            try:
                inbox = await self.store.inbox_stats()
            except Exception as error:
                log.warning("/metrics: the store does not answer: %s: %s", type(error).__name__, error)
        return Readings(
            ready=self.ready,
            in_flight=self.worker.in_flight,
            handed_over=self.worker.handed_over,
            overloaded=self.webhooks.overloaded,
            held=self.worker.held,
            unmatched=self.dispatcher.unmatched,
            steps=None if self.steps is None else self.steps.counters,
            fires=None if self.schedules is None else self.schedules.stats,
            polls=None if self.poller is None else self.poller.counters,
            inbox=inbox,
        )

    async def _emit(self, event: Event, ordering_key: str | None) -> str:
        if self.tracer is not None:  # its handlers' spans are children of the emitting handler's
            event = attrs.evolve(event, trace_context=self.tracer.trace_context())
        result = await self._append(event, ordering_key=ordering_key)
        return result.event_id

    def _hook_context(self, plugin: Plugin, stage: str) -> Context:
        event = new_event(f"lifecycle.{stage}", {"plugin": plugin.name}, source="lifecycle")
        return self.dispatcher.context_for(event, plugin.name, f"{plugin.name}.{stage}")

    async def open_store(self) -> None:
        if not self._store_open:
            await self.store.open()
            self._store_open = True

    async def start(self, *, worker: bool = True, fire_schedules: bool = True) -> None:
        """Open the store, run startup hooks, start schedules and (unless told not to) the worker.

        Without `fire_schedules`, jobs handlers schedule are kept in the job store for the service to fire.
        """
        await self.open_store()
        for plugin in self.plugins:
            for hook in plugin.startup_hooks:
                try:
                    async with asyncio.timeout(HOOK_TIMEOUT):
                        await hook(self._hook_context(plugin, "startup"))
                except TimeoutError:
                    raise ConfigError(
                        f"a startup hook of plugin {plugin.name} ({getattr(hook, '__qualname__', hook)}) took over"
                        f" {HOOK_TIMEOUT:g} s; the bot did not start"
                    ) from None
        if self.schedules is not None:
            await self.schedules.start(paused=not fire_schedules)
        if worker:
            self._worker_task = asyncio.create_task(self.worker.run(), name="chatwright-worker")
        if self.poller is not None:
            await self.poller.start(fire=self.auto_poll and fire_schedules)
        self.ready = True

    async def stop(self, drain_timeout: float | None = None) -> int:
        """Stop intake, drain in-flight handlers for a bounded time, close everything; returns events left."""
        self.ready = False
        timeout = self.config.service.drain_timeout if drain_timeout is None else drain_timeout
        left = 0
        if self.poller is not None:
            await self.poller.stop()
        if self.schedules is not None:
            try:
                await self.schedules.shutdown()
            except Exception:
                log.exception("the scheduler did not shut down cleanly")
        if self._worker_task is not None:
            self.worker.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker_task
            left = await self.worker.drain(timeout)
            self._worker_task = None
        for plugin in self.plugins:
            for hook in plugin.shutdown_hooks:
                try:
                    async with asyncio.timeout(HOOK_TIMEOUT):
                        await hook(self._hook_context(plugin, "shutdown"))
                except Exception:
                    log.exception(
                        "shutdown hook of plugin %s failed (or took over %g s)", plugin.name, HOOK_TIMEOUT
                    )
        for name, provider in self.providers.items():
            try:
                await provider.close()
            except Exception:
                log.exception("adapter %s did not close cleanly", name)
        if self._store_open:
            await self.store.close()
            self._store_open = False
        return left
