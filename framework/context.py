"""Context: what a handler receives beside the event - adapters, emit, state, schedule, log and its config."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

import attrs

from framework.chat_commands import Command, CommandSpec
from framework.chat_watch import WatchedChats
from framework.chats import ChatProvider, Message
from framework.errors import ChatwrightError
from framework.events import Event, new_event
from framework.messages import ChatMessage
from framework.steps import Delivery, JournaledChats, StepJournal, Steps, call
from framework.store.base import Store

__all__ = ["Chats", "Context", "PluginState", "ScheduleApi", "ScheduledJob", "Schedules"]


@attrs.frozen
class ScheduledJob:
    """A dynamic schedule as `ctx.schedule.list()` reports it.

    `broken` is the error of a stored job that cannot be restored (e.g. a reference it was pickled with no
    longer imports): it is kept in the job store but does not fire; its type, data and trigger are unknown ("").
    """

    id: str
    event_type: str
    data: dict[str, Any]
    trigger: str
    next_fire: datetime | None
    broken: str | None = None


class ScheduleApi(Protocol):
    """Dynamic schedules, persisted in the store's job store (implemented by framework.schedules.service)."""

    async def at(self, when: datetime | str, type: str, data: dict[str, Any] | None, *, id: str) -> str: ...

    async def after(self, seconds: float, type: str, data: dict[str, Any] | None, *, id: str) -> str: ...

    async def cron(
        self, expression: str, type: str, data: dict[str, Any] | None, *, id: str, tz: str = "UTC"
    ) -> str: ...

    async def cancel(self, id: str) -> bool: ...

    async def list(self) -> list[ScheduledJob]: ...


class SchedulesUnavailable:
    """Stands in for the scheduler where none runs (e.g. `chatwright emit`)."""

    def _fail(self) -> ChatwrightError:
        return ChatwrightError("schedules are not available here: ctx.schedule works inside `chatwright run`")

    async def at(self, when: datetime | str, type: str, data: dict[str, Any] | None, *, id: str) -> str:
        raise self._fail()

    async def after(self, seconds: float, type: str, data: dict[str, Any] | None, *, id: str) -> str:
        raise self._fail()

    async def cron(
        self, expression: str, type: str, data: dict[str, Any] | None, *, id: str, tz: str = "UTC"
    ) -> str:
        raise self._fail()

    async def cancel(self, id: str) -> bool:
        raise self._fail()

    async def list(self) -> list[ScheduledJob]:
        raise self._fail()


class Schedules:
    """`ctx.schedule`: jobs created while handling an event get ids derived from that event, so a retried
    handler replaces its jobs instead of adding twins. Pass `id=` to name a job yourself (e.g. to cancel it)."""

    def __init__(self, api: ScheduleApi, origin: str) -> None:
        self._api = api
        self._origin = origin
        self._counter = itertools.count(1)

    def _job_id(self, given: str | None) -> str:
        return given if given is not None else f"{self._origin}/schedule-{next(self._counter)}"

    async def at(
        self, when: datetime | str, type: str, data: dict[str, Any] | None = None, *, id: str | None = None
    ) -> str:
        """Fire event `type` with `data` once at `when` (an aware datetime or an ISO 8601 string)."""
        return await self._api.at(when, type, data, id=self._job_id(id))

    async def after(
        self, seconds: float, type: str, data: dict[str, Any] | None = None, *, id: str | None = None
    ) -> str:
        """Fire event `type` once, `seconds` from now."""
        return await self._api.after(seconds, type, data, id=self._job_id(id))

    async def cron(
        self,
        expression: str,
        type: str,
        data: dict[str, Any] | None = None,
        *,
        id: str | None = None,
        tz: str = "UTC",
    ) -> str:
        """Fire event `type` on a 5-field cron expression until cancelled."""
        return await self._api.cron(expression, type, data, id=self._job_id(id), tz=tz)

    async def cancel(self, id: str) -> bool:
        """Remove a job; True if it existed."""
        return await self._api.cancel(id)

    async def list(self) -> list[ScheduledJob]:
        return await self._api.list()


class PluginState:
    """`ctx.state`: a small JSON key-value store of the plugin's own, kept in the same store as the inbox."""

    def __init__(self, store: Store, namespace: str) -> None:
        self._store = store
        self._namespace = namespace

    async def get(self, key: str, default: Any = None) -> Any:
        value = await self._store.state_get(self._namespace, key)
        return default if value is None else value

    async def set(self, key: str, value: Any, *, ttl: float | None = None) -> None:
        await self._store.state_set(self._namespace, key, value, ttl)

    async def delete(self, key: str) -> bool:
        return await self._store.state_delete(self._namespace, key)

    async def keys(self, prefix: str = "") -> list[str]:
        return await self._store.state_keys(self._namespace, prefix)


class Chats(Mapping[str, ChatProvider]):
    """`ctx.chats`: the configured adapters by name; an unknown name says which ones exist."""

    def __init__(self, providers: Mapping[str, ChatProvider]) -> None:
        self._providers = providers

    def __getitem__(self, name: str) -> ChatProvider:
        try:
            return self._providers[name]
        except KeyError:
            known = ", ".join(sorted(self._providers)) or "none configured"
            raise KeyError(f"no adapter named {name!r} (configured: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)


Emitter = Callable[[Event, str | None], Awaitable[str]]
"""Appends an event to the inbox with an ordering key; returns its id."""


class EventLogger(logging.LoggerAdapter[logging.Logger]):
    """Adds the event id and type, the handler and the attempt to every record a handler logs (as `extra`)."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = dict(self.extra or {})
        return f"[{extra.get('event_id')}] {msg}", {**kwargs, "extra": {**extra, **kwargs.get("extra", {})}}


class Context:
    """What a handler gets beside the event."""

    __slots__ = (
        "_chats",
        "_command",
        "_delivery",
        "_emit_counter",
        "_emitter",
        "_handler",
        "_journal",
        "_journaled_chats",
        "_log",
        "_message",
        "_origin",
        "_schedule",
        "_schedule_api",
        "_state",
        "_steps",
        "_store",
        "config",
        "event",
        "plugin",
    )

    def __init__(
        self,
        *,
        event: Event,
        plugin: str,
        handler: str,
        chats: Chats,
        store: Store,
        emitter: Emitter,
        schedule_api: ScheduleApi,
        config: Any = None,
        steps: Steps | None = None,
        delivery: Delivery = Delivery.FIRST,
        command: CommandSpec | None = None,
    ) -> None:
        self.event = event
        self.plugin = plugin
        self.config = config
        self._chats = chats
        self._handler = handler
        self._steps = steps
        self._delivery = delivery
        # Ids of what this handler call creates derive from (event, handler), so a retry repeats them exactly.
        self._origin = f"{event.id}/{handler}"
        self._emitter = emitter
        self._store = store
        self._schedule_api = schedule_api
        # Built on first use: a context is made for every handler call, and most use one or two of these.
        self._emit_counter: itertools.count[int] | None = None
        self._state: PluginState | None = None
        self._schedule: Schedules | None = None
        self._log: EventLogger | None = None
        self._journal: StepJournal | None = None
        self._journaled_chats: JournaledChats | None = None
        self._command = command
        self._message: ChatMessage | None = None

    @property
    def chats(self) -> Mapping[str, ChatProvider]:
        """`ctx.chats`: the configured adapters by name; what a handler does through them is a step, done once
        in effect however often the handler runs (see framework.steps)."""
        if self._steps is None:
            return self._chats
        if self._journaled_chats is None:
            self._journaled_chats = JournaledChats(self._chats, self.journal)
        return self._journaled_chats

    @property
    def journal(self) -> StepJournal:
        """The step journal of this handler call (built on first use)."""
        if self._journal is None:
            if self._steps is None:
                raise ChatwrightError("steps are not available here (no step journal for this call)")
            self._journal = self._steps.journal(self.event, self._handler, delivery=self._delivery)
        return self._journal

    @property
    def journal_in_use(self) -> StepJournal | None:
        """The step journal if this call made a step (for the dispatcher: its writes, its end)."""
        return self._journal

    async def step(
        self,
        name: str,
        fn: Callable[..., Any],
        *args: Any,
        reconcile: Callable[[datetime], Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run `fn(*args, **kwargs)` (sync or async) as a step: once in effect, its JSON result recorded.

        A re-run of the handler gets the recorded result instead of calling `fn` again. If an earlier attempt
        may have called it without recording the result (a crash, a timeout), `reconcile(since)` - when given -
        is asked first whether the effect is there (return its result, or None); without it `fn` runs again.
        """
        if self._steps is None:
            return await call(fn, *args, **kwargs)
        return await self.journal.step(name, fn, args, kwargs, reconcile)

    @property
    def message(self) -> ChatMessage:
        """`ctx.message`: the chat message a `chat.message` event carries (InvalidEvent for any other event)."""
        if self._message is None:
            self._message = ChatMessage.from_event(self.event)
        return self._message

    @property
    def command(self) -> Command:
        """`ctx.command`: the command a `@plugin.command` handler answers, with its arguments."""
        if self._command is None:
            raise ChatwrightError(
                f"{self._handler} is not a @plugin.command handler: ctx.command has nothing"
            )
        return self._command.parse(self.message.text)

    async def watch(self, adapter: str, chat_id: str) -> bool:
        """Deliver what people write in a chat the bot did not create through `ctx.chats` (from now on); False
        when it was watched already. Chats the bot creates are watched without asking."""
        return await WatchedChats(self._store).watch(adapter, str(chat_id), from_start=False)

    async def unwatch(self, adapter: str, chat_id: str) -> bool:
        """Stop delivering what people write in a chat (e.g. once its shift is over): it is polled no more.
        False when it was not watched."""
        return await WatchedChats(self._store).unwatch(adapter, str(chat_id))

    async def reply(self, text: str) -> Message:
        """Post `text` into the chat the message came from, through its adapter: a step, done once in effect."""
        message = self.message
        return await self.chats[message.adapter].post_message(message.chat_id, text)

    @property
    def state(self) -> PluginState:
        """`ctx.state`: the plugin's own key-value store."""
        if self._state is None:
            self._state = PluginState(self._store, self.plugin)
        return self._state

    @property
    def schedule(self) -> Schedules:
        """`ctx.schedule`: jobs whose ids derive from this event and handler."""
        if self._schedule is None:
            self._schedule = Schedules(self._schedule_api, self._origin)
        return self._schedule

    @property
    def log(self) -> EventLogger:
        """`ctx.log`: the plugin's logger; every record carries the event's id and type, the handler, the attempt."""
        if self._log is None:
            self._log = EventLogger(
                logging.getLogger(f"chatwright.plugin.{self.plugin}"),
                {
                    "event_id": self.event.id,
                    "event_type": self.event.type,
                    "handler": self._handler if "." in self._handler else f"{self.plugin}.{self._handler}",
                    "attempt": self.event.attempt,
                },
            )
        return self._log

    def _next_emit(self) -> int:
        if self._emit_counter is None:
            self._emit_counter = itertools.count(1)
        return next(self._emit_counter)

    async def emit(
        self, type: str, data: dict[str, Any] | None = None, *, ordering_key: str | None = None
    ) -> str:
        """Append a new event to the inbox (durably); returns its id. It carries this event's trace id.

        Its id derives from this event and handler, so a retried handler does not emit twice.
        """
        child = new_event(
            type,
            data,
            id=f"{self._origin}/emit-{self._next_emit()}",
            source=f"emit:{self.plugin}",
            trace_id=self.event.trace_id,
        )
        return await self._emitter(child, ordering_key)
