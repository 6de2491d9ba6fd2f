"""Plugin: where handlers, schedules, hooks and the typed config section of one plugin are registered.

Registration does the work once (compiling globs, reading signatures); dispatch then stays a short loop.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from framework.chat_commands import CommandSpec, MessageFilter
from framework.messages import MESSAGE_EVENT
from framework.payloads import check_payload_type

if TYPE_CHECKING:
    from framework.context import Context
    from framework.events import Event

__all__ = ["CronSpec", "Handler", "HandlerFn", "Hook", "Plugin"]

HandlerFn = Callable[["Event", "Context"], Awaitable[None]]
Filter = Callable[["Event"], bool]
Hook = Callable[["Context"], Awaitable[None]]
F = TypeVar("F", bound=HandlerFn)
H = TypeVar("H", bound=Hook)
M = TypeVar("M", bound=Callable[..., Awaitable[None]])


@attrs.frozen
class Handler:
    """One registered handler: the event pattern it matches, optional filter, and the function."""

    plugin: str
    pattern: str
    fn: HandlerFn
    filter: Filter | None = None
    name: str = ""
    payload: type[Any] | None = None
    """The attrs class the event's data must fit (`@plugin.on(..., payload=T)`); checked at the webhook."""
    command: CommandSpec | None = None
    """For `@plugin.command`: the command it answers (its filter too); `ctx.command` parses it."""
    _regex: re.Pattern[str] | None = attrs.field(default=None, alias="_regex", eq=False, repr=False)

    def matches_type(self, event_type: str) -> bool:
        if self._regex is None:
            return event_type == self.pattern
        return self._regex.match(event_type) is not None


@attrs.frozen
class CronSpec:
    """A static schedule declared with `@plugin.cron`: fires the event type the handler listens to."""

    plugin: str
    id: str
    event_type: str
    cron: str
    timezone: str = "UTC"
    misfire: str = "run-once"
    grace_time: float = 3600.0


def _where(fn: Callable[..., Any]) -> str:
    """`module.qualname (file:line)` of a function, for error messages."""
    code = getattr(fn, "__code__", None)
    place = f" ({code.co_filename}:{code.co_firstlineno})" if code is not None else ""
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}{place}"


def _compile(pattern: str) -> re.Pattern[str] | None:
    if not any(ch in pattern for ch in "*?["):
        return None
    return re.compile(fnmatch.translate(pattern))


class Plugin:
    """A named set of handlers. Expose it at module level; chatwright loads every Plugin a module exposes.

    ```python
    plugin = Plugin("greeter", config=GreeterConfig)

    @plugin.on("user.joined")
    async def greet(event: Event, ctx: Context) -> None: ...
    ```
    `config` is an attrs class; the `[plugins.greeter]` table of the config file is structured into it and handed
    to handlers as `ctx.config`.
    """

    def __init__(self, name: str, *, config: type[Any] | None = None) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name):
            raise ValueError(f"plugin name {name!r}: use letters, digits, '_', '-' or '.'")
        self.name = name
        self.config_type = config
        self.handlers: list[Handler] = []
        self.crons: list[CronSpec] = []
        self.middlewares: list[Any] = []
        self.startup_hooks: list[Hook] = []
        self.shutdown_hooks: list[Hook] = []
        self.needs: set[str] = set()

    def __repr__(self) -> str:
        return f"Plugin({self.name!r}, handlers={len(self.handlers)}, crons={len(self.crons)})"

    def on(
        self,
        pattern: str,
        *,
        filter: Filter | None = None,
        name: str | None = None,
        payload: type[Any] | None = None,
    ) -> Callable[[F], F]:
        """Handle events whose type is `pattern` (exact, or a glob like `shift.*`) and pass `filter`.

        The handler's name (`plugin.function`, or `plugin.<name>`) is its identity: its steps and its
        done-marker are recorded under it, so it must be unique in the plugin and stay the same across deploys.
        `payload` is an attrs class the event's data must fit: a webhook delivery that does not is answered 422
        and never stored, and the handler reads the typed value with `event.payload(T)` (docs/plugins.md).
        """

        def register(fn: F) -> F:
            self.add_handler(pattern, fn, filter=filter, name=name, payload=payload)
            return fn

        return register

    def add_handler(
        self,
        pattern: str,
        fn: HandlerFn,
        *,
        filter: Filter | None = None,
        name: str | None = None,
        payload: type[Any] | None = None,
        command: CommandSpec | None = None,
    ) -> Handler:
        if not pattern:
            raise ValueError(f"plugin {self.name}: empty event pattern for {fn.__qualname__}")
        if payload is not None:
            check_payload_type(payload, f"plugin {self.name}: {_where(fn)}")
        full_name = f"{self.name}.{name or fn.__name__}"
        taken = next((h for h in self.handlers if h.name == full_name), None)
        if taken is not None and taken.fn is fn and name is None:
            full_name = f"{full_name}[{pattern}]"  # one function registered for several patterns
            taken = next((h for h in self.handlers if h.name == full_name), None)
        if taken is not None:
            raise ValueError(
                f"plugin {self.name}: two handlers named {full_name!r}: {_where(taken.fn)} (on {taken.pattern!r})"
                f" and {_where(fn)} (on {pattern!r}); a handler's name is its identity (its steps are recorded"
                " under it) - rename one function or pass name= to @plugin.on"
            )
        handler = Handler(
            plugin=self.name,
            pattern=pattern,
            fn=fn,
            filter=filter,
            name=full_name,
            payload=payload,
            command=command,
            _regex=_compile(pattern),
        )
        self.handlers.append(handler)
        return handler

    def message(
        self,
        pattern: str | re.Pattern[str] | None = None,
        *,
        chat: str | Collection[str] | None = None,
        sender: str | Collection[str] | None = None,
        adapter: str | Collection[str] | None = None,
        name: str | None = None,
    ) -> Callable[[F], F]:
        """Handle what people write in chats (`chat.message` events, docs/conversations.md).

        `pattern` is a regular expression searched in the text (a string is compiled case-insensitively);
        `chat`, `sender` and `adapter` restrict it to those chat ids, sender ids and adapter names. The handler
        reads the message as `ctx.message` and answers in its chat with `await ctx.reply(text)`.
        """
        compiled = re.compile(pattern, re.IGNORECASE) if isinstance(pattern, str) else pattern
        matcher = MessageFilter(pattern=compiled, chats=chat, senders=sender, adapters=adapter)

        def register(fn: F) -> F:
            self.add_handler(MESSAGE_EVENT, fn, filter=matcher, name=name)
            return fn

        return register

    def command(
        self,
        command: str,
        *,
        prefix: str | None = None,
        chat: str | Collection[str] | None = None,
        sender: str | Collection[str] | None = None,
        adapter: str | Collection[str] | None = None,
        name: str | None = None,
    ) -> Callable[[F], F]:
        """Handle the chat command `command`: a message that is the prefix and the name, then arguments.

        The prefix is `[conversations] command_prefix` ("!" by default) unless `prefix` is given ("" for none).
        The handler reads `ctx.command.args` (split as a shell would) and answers with `await ctx.reply(text)`.
        """
        spec = CommandSpec(
            name=command,
            prefix=prefix,
            message=MessageFilter(chats=chat, senders=sender, adapters=adapter),
        )

        def register(fn: F) -> F:
            self.add_handler(MESSAGE_EVENT, fn, filter=spec, name=name, command=spec)
            return fn

        return register

    def cron(
        self,
        expression: str,
        *,
        tz: str = "UTC",
        id: str | None = None,
        misfire: str = "run-once",
        grace_time: float = 3600.0,
    ) -> Callable[[F], F]:
        """Run the handler on a cron expression (5 fields, `0 8 * * mon-fri`) in timezone `tz`.

        The schedule fires the event `cron.<plugin>.<schedule id>`, which the handler is registered for.
        """

        def register(fn: F) -> F:
            schedule_id = id or fn.__name__
            event_type = f"cron.{self.name}.{schedule_id}"
            self.crons.append(
                CronSpec(
                    plugin=self.name,
                    id=f"{self.name}.{schedule_id}",
                    event_type=event_type,
                    cron=expression,
                    timezone=tz,
                    misfire=misfire,
                    grace_time=grace_time,
                )
            )
            self.add_handler(event_type, fn)
            return fn

        return register

    def middleware(self, fn: M) -> M:
        """Wrap every handler call of the service (all plugins') in `fn(call_next, event, ctx)`."""
        self.middlewares.append(fn)
        return fn

    def on_startup(self, fn: H) -> H:
        """Run `fn(ctx)` once when the service starts, before any event is handled."""
        self.startup_hooks.append(fn)
        return fn

    def on_shutdown(self, fn: H) -> H:
        """Run `fn(ctx)` once when the service stops, after the last event was handled."""
        self.shutdown_hooks.append(fn)
        return fn

    def requires(self, adapter: str, *operations: str) -> None:
        """Declare that this plugin calls `operations` on adapter `adapter` (checked by `chatwright check`)."""
        self.needs.update(f"{adapter}:{operation}" for operation in operations)
