"""The dispatcher: finds the handlers matching an event and runs each through the middleware chain.

Matching is worked out once per event type and cached, so dispatch stays a short loop. Handlers of one event run
concurrently; the outcome lists which failed. On a retry of the event, handlers that already succeeded on an
earlier attempt are skipped (their success is recorded in the store when a sibling fails). A handler still
running `handler_timeout` seconds after it began is cancelled and fails with TimeoutError; the time limits of
all running handlers share one loop timer per tenth of the timeout (HandlerDeadlines) instead of one per call.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

from framework import scope
from framework.chat_commands import DEFAULT_COMMAND_PREFIX, CommandSpec
from framework.context import Chats, Context, Emitter, ScheduleApi
from framework.events import Event
from framework.plugins import Handler, Plugin
from framework.steps import Delivery, Steps
from framework.store.base import Store
from framework.tracing import Tracer

__all__ = [
    "DispatchOutcome",
    "Dispatcher",
    "HandlerDeadlines",
    "HandlerFailure",
    "HandlerObserver",
    "Middleware",
    "NextHandler",
    "timing_middleware",
]

log = logging.getLogger("chatwright.dispatch")

HandlerObserver = Callable[[str, bool, float], None]
"""Told of each handler call: the handler's name, whether it succeeded, and its duration in seconds."""

NextHandler = Callable[[Event, Context], Awaitable[None]]
Middleware = Callable[[NextHandler, Event, Context], Awaitable[None]]
"""`async def middleware(call_next, event, ctx)`: do something around `await call_next(event, ctx)`."""

MAX_CACHED_TYPES = 1024
"""Event types whose matching handlers the dispatcher remembers at most."""

DONE_NAMESPACE = "_chatwright.done"
DONE_TTL = 7 * 24 * 3600.0


@attrs.frozen
class HandlerFailure:
    handler: str
    error: BaseException


@attrs.frozen
class DispatchOutcome:
    """What happened to one event: handlers that ran and succeeded, were skipped (done before), or failed."""

    event: Event
    succeeded: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failures: tuple[HandlerFailure, ...] = ()
    writes: tuple[Awaitable[None], ...] = attrs.field(default=(), eq=False, repr=False)
    """Step records still being written; the worker waits for them before the event leaves its hands."""

    @property
    def ok(self) -> bool:
        return not self.failures


async def timing_middleware(call_next: NextHandler, event: Event, ctx: Context) -> None:
    """Logs each handler call with its duration and outcome (installed by default).

    As the outermost middleware (where the default puts it) the dispatcher does this itself around the chain,
    with the clock it reads anyway, instead of calling it: a coroutine less in every handler call."""
    started = time.perf_counter()
    try:
        await call_next(event, ctx)
    except BaseException:
        _failed_after(ctx, started)
        raise
    _handled_in(ctx, started)


def _failed_after(ctx: Context, started: float) -> None:
    elapsed = (time.perf_counter() - started) * 1000
    ctx.log.warning("handler failed after %.1f ms", elapsed, extra={"duration_ms": round(elapsed, 3)})


def _handled_in(ctx: Context, started: float) -> None:
    if log.isEnabledFor(logging.DEBUG):
        elapsed = (time.perf_counter() - started) * 1000
        ctx.log.debug("handled in %.1f ms", elapsed, extra={"duration_ms": round(elapsed, 3)})


class Dispatcher:
    """Runs events through the handlers of the loaded plugins."""

    def __init__(
        self,
        plugins: Sequence[Plugin],
        *,
        store: Store,
        chats: Chats,
        emitter: Emitter,
        schedule_api: ScheduleApi,
        plugin_configs: dict[str, Any] | None = None,
        middlewares: Sequence[Middleware] = (timing_middleware,),
        handler_timeout: float | None = None,
        steps: Steps | None = None,
        observe: HandlerObserver | None = None,
        tracer: Tracer | None = None,
        command_prefix: str = DEFAULT_COMMAND_PREFIX,
    ) -> None:
        self.plugins = list(plugins)
        self.handlers: list[Handler] = [
            _bind_prefix(handler, command_prefix) for plugin in self.plugins for handler in plugin.handlers
        ]
        self.store = store
        self.chats = chats
        self.emitter = emitter
        self.schedule_api = schedule_api
        self.plugin_configs = dict(plugin_configs or {})
        self.middlewares = list(middlewares)
        self.handler_timeout = handler_timeout
        self.steps = steps
        """The step journals' shared parts; None runs handlers without steps (every call acts)."""
        self._by_type: dict[str, tuple[Handler, ...]] = {}
        self.unmatched = 0
        """Events no handler matched (done at once)."""
        self._chains: dict[str, tuple[NextHandler, bool]] = {}
        self._deadlines = HandlerDeadlines(handler_timeout) if handler_timeout else None
        self._observe = observe
        self._tracer = tracer

    def add_middleware(self, middleware: Middleware) -> None:
        """Wrap every handler call in `middleware` (outermost first, in the order added)."""
        self.middlewares.append(middleware)
        self._chains.clear()

    def handlers_for(self, event_type: str) -> tuple[Handler, ...]:
        """Handlers whose pattern matches the type (filters are applied per event)."""
        cached = self._by_type.get(event_type)
        if cached is None:
            cached = tuple(h for h in self.handlers if h.matches_type(event_type))
            if len(self._by_type) >= MAX_CACHED_TYPES:
                # types come from webhook senders (`event_field`): a flood of new ones must not grow memory
                self._by_type.clear()
            self._by_type[event_type] = cached
        return cached

    def context_for(
        self,
        event: Event,
        plugin: str,
        handler: str,
        *,
        steps: bool = False,
        delivery: Delivery = Delivery.FIRST,
        command: CommandSpec | None = None,
    ) -> Context:
        """The Context a handler (or a plugin's lifecycle hook) of `plugin` gets for `event`; with `steps`, its
        effects are steps of a journal, which looks for earlier records unless this is the first delivery."""
        return Context(
            event=event,
            plugin=plugin,
            handler=handler,
            chats=self.chats,
            store=self.store,
            emitter=self.emitter,
            schedule_api=self.schedule_api,
            config=self.plugin_configs.get(plugin),
            steps=self.steps if steps else None,
            delivery=delivery,
            command=command,
        )

    def _chain(self, handler: Handler) -> tuple[NextHandler, bool]:
        """The handler's call through the middlewares, and whether `_run` does `timing_middleware`'s part."""
        chain = self._chains.get(handler.name)
        if chain is None:
            call: NextHandler = handler.fn
            if self._deadlines is not None:
                call = self._deadlines.bound(call)
            middlewares = self.middlewares
            timed = bool(middlewares) and middlewares[0] is timing_middleware
            for middleware in reversed(middlewares[1:] if timed else middlewares):
                # partial(middleware, call_next)(event, ctx) is middleware(call_next, event, ctx), without the
                # coroutine frame a wrapper function would add to every call (and to every resume in it)
                call = functools.partial(middleware, call)
            self._chains[handler.name] = chain = (call, timed)
        return chain

    async def dispatch(self, event: Event, *, delivery: Delivery = Delivery.FIRST) -> DispatchOutcome:
        """Run every matching handler of `event`; never raises for a handler's error (see the outcome).

        `delivery` says whether the event was handled before (a retry, a replay) or interrupted (a crash, a
        lost lease): then its handlers' steps look for what earlier attempts recorded. A first delivery reads none.
        """
        handlers = [h for h in self.handlers_for(event.type) if h.filter is None or h.filter(event)]
        if not handlers:
            self.unmatched += 1
            log.info("[%s] no handler matches %s (source %s): done", event.id, event.type, event.source)
            return DispatchOutcome(event=event)
        skipped: list[str] = []
        if event.attempt > 1 and len(handlers) > 1:
            pending = []
            for handler in handlers:
                if await self.store.state_get(DONE_NAMESPACE, f"{event.id}|{handler.name}"):
                    skipped.append(handler.name)
                else:
                    pending.append(handler)
            handlers = pending
        writes: list[Awaitable[None]] = []
        if len(handlers) == 1:
            only = handlers[0]
            error = await self._run(only, event, delivery, writes)
            if error is None:  # the common case, without the bookkeeping below
                return DispatchOutcome(
                    event=event, succeeded=(only.name,), skipped=tuple(skipped), writes=tuple(writes)
                )
            results: list[BaseException | None] = [error]
        else:
            results = list(
                await asyncio.gather(*(self._run(handler, event, delivery, writes) for handler in handlers))
            )
        succeeded = tuple(h.name for h, error in zip(handlers, results, strict=True) if error is None)
        failures = tuple(
            HandlerFailure(handler=h.name, error=error)
            for h, error in zip(handlers, results, strict=True)
            if error is not None
        )
        if failures and succeeded:
            for name in succeeded:
                await self.store.state_set(DONE_NAMESPACE, f"{event.id}|{name}", True, DONE_TTL)
        return DispatchOutcome(
            event=event, succeeded=succeeded, skipped=tuple(skipped), failures=failures, writes=tuple(writes)
        )

    async def _run(
        self, handler: Handler, event: Event, delivery: Delivery, writes: list[Awaitable[None]]
    ) -> BaseException | None:
        ctx = self.context_for(
            event,
            handler.plugin,
            handler.name,
            steps=self.steps is not None,
            delivery=delivery,
            command=handler.command,
        )
        chain, timed = self._chain(handler)
        token = scope.bind(scope.Scope(event.id, event.trace_id, handler.name, event.attempt))
        started = time.perf_counter()
        try:
            if self._tracer is None:
                await chain(event, ctx)
            else:
                with self._tracer.handler(event, handler.name):
                    await chain(event, ctx)
        except asyncio.CancelledError:
            if timed:
                _failed_after(ctx, started)
            _collect_writes(ctx, writes, returned=False)
            raise
        except Exception as error:
            if timed:
                _failed_after(ctx, started)
            if self._observe is not None:
                self._observe(handler.name, False, time.perf_counter() - started)
            _collect_writes(ctx, writes, returned=False)
            log.warning(
                "[%s] %s failed (attempt %d): %s: %s",
                event.id,
                handler.name,
                event.attempt,
                type(error).__name__,
                error,
                # the traceback on the first failure (later ones repeat it; the dead letter logs the last)
                exc_info=error if event.attempt == 1 or log.isEnabledFor(logging.DEBUG) else None,
            )
            return error
        except BaseException:
            if timed:
                _failed_after(ctx, started)
            raise
        else:
            if timed:
                _handled_in(ctx, started)
        finally:
            scope.reset(token)
        if self._observe is not None:
            self._observe(handler.name, True, time.perf_counter() - started)
        _collect_writes(ctx, writes, returned=True)
        return None


def _bind_prefix(handler: Handler, prefix: str) -> Handler:
    """A command handler whose command has no prefix of its own takes the service's."""
    if handler.command is None or handler.command.prefix is not None:
        return handler
    bound = handler.command.bound(prefix)
    return attrs.evolve(handler, command=bound, filter=bound)


def _collect_writes(ctx: Context, writes: list[Awaitable[None]], *, returned: bool) -> None:
    """A handler call's step records under way. A call that failed has all of them written (the next attempt
    reads them); one that returned skips its last (`StepJournal.finish`)."""
    journal = ctx.journal_in_use
    if journal is None:
        return
    if returned:
        journal.finish()
    else:
        journal.flush()
    writes.extend(journal.writes)


class HandlerDeadlines:
    """Time limits for handler calls without a timer per call.

    A call's deadline is rounded up to the next tick (a tenth of the limit, at most a second); one loop timer
    per tick cancels the calls of that tick still running, which then fail with TimeoutError, as under
    `asyncio.timeout`. A call is thus cancelled between `seconds` and `seconds` + one tick after it began.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.tick = min(1.0, seconds / 10)
        self._due: dict[tuple[asyncio.AbstractEventLoop, int], set[asyncio.Task[Any]]] = {}
        self._expired: set[asyncio.Task[Any]] = set()

    def bound(self, call: NextHandler) -> NextHandler:
        async def bounded(event: Event, ctx: Context) -> None:
            task = asyncio.current_task()
            if task is None:  # not in a task (cannot be cancelled alone): no limit
                await call(event, ctx)
                return
            loop = task.get_loop()
            key = (loop, math.ceil((loop.time() + self.seconds) / self.tick))
            calls = self._due.get(key)
            if calls is None:
                calls = self._due[key] = set()
                loop.call_at(key[1] * self.tick, self._expire, key)
            calls.add(task)
            cancelling = task.cancelling()
            try:
                await call(event, ctx)
            except asyncio.CancelledError:
                if task in self._expired:
                    self._expired.discard(task)
                    if task.uncancel() <= cancelling:
                        raise TimeoutError(
                            f"the handler was still running after {self.seconds:g} s"
                        ) from None
                raise
            finally:
                calls.discard(task)
                if task in self._expired:  # expired as it returned: take the cancellation back
                    self._expired.discard(task)
                    task.uncancel()

        return bounded

    def _expire(self, key: tuple[asyncio.AbstractEventLoop, int]) -> None:
        for task in self._due.pop(key, ()):
            if not task.done():
                self._expired.add(task)
                task.cancel()
