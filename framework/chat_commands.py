"""What `@plugin.message` and `@plugin.command` match: a message's text, chat and sender, and a command's arguments.

Both register a handler for `chat.message` events with a filter built here once; dispatch only calls it.
A command is the prefix, its name, then arguments split as a shell would (`!swap "Ada Lovelace" 3`), or on
whitespace when the quoting is unbalanced. The prefix is the service's `[conversations] command_prefix` unless the
command names its own; the dispatcher binds it when it is built.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection
from typing import Any

import attrs

from framework.events import Event

__all__ = ["DEFAULT_COMMAND_PREFIX", "Command", "CommandSpec", "MessageFilter"]

DEFAULT_COMMAND_PREFIX = "!"
"""What a command starts with unless `[conversations] command_prefix` says otherwise."""


def _as_set(value: str | Collection[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset((value,))
    return frozenset(str(item) for item in value)


def _text(event: Event) -> str:
    text = event.data.get("text")
    return text if type(text) is str else ""


@attrs.frozen(kw_only=True)
class MessageFilter:
    """Matches a `chat.message` by its text (a regex, searched), chat ids, sender ids and adapter names."""

    pattern: re.Pattern[str] | None = None
    chats: frozenset[str] | None = attrs.field(default=None, converter=_as_set)
    senders: frozenset[str] | None = attrs.field(default=None, converter=_as_set)
    adapters: frozenset[str] | None = attrs.field(default=None, converter=_as_set)

    def __call__(self, event: Event) -> bool:
        data = event.data
        if self.adapters is not None and data.get("adapter") not in self.adapters:
            return False
        if self.chats is not None and data.get("chat_id") not in self.chats:
            return False
        if self.senders is not None and data.get("sender_id") not in self.senders:
            return False
        return self.pattern is None or self.pattern.search(_text(event)) is not None


@attrs.frozen
class Command:
    """A command as written: its name, its arguments, and the text after the name (`ctx.command`)."""

    name: str
    args: tuple[str, ...] = ()
    rest: str = ""


def split_arguments(rest: str) -> tuple[str, ...]:
    """Shell-like words (quotes group, backslashes escape); plain whitespace split when quotes do not balance."""
    try:
        return tuple(shlex.split(rest))
    except ValueError:
        return tuple(rest.split())


@attrs.frozen(kw_only=True)
class CommandSpec:
    """`@plugin.command(name)`: matches a message that is `prefix + name`, alone or followed by whitespace."""

    name: str = attrs.field()
    prefix: str | None = None
    """None: the service's command prefix (bound by the dispatcher)."""
    message: MessageFilter = MessageFilter()

    @name.validator
    def _check_name(self, _: Any, value: str) -> None:
        if not value or any(ch.isspace() for ch in value):
            raise ValueError(f"command name {value!r}: use one word without spaces")

    def bound(self, default_prefix: str) -> CommandSpec:
        """This command with its prefix settled (its own, else `default_prefix`)."""
        return self if self.prefix is not None else attrs.evolve(self, prefix=default_prefix)

    @property
    def head(self) -> str:
        return f"{DEFAULT_COMMAND_PREFIX if self.prefix is None else self.prefix}{self.name}"

    def rest_of(self, text: str) -> str | None:
        """The text after the command word, or None when `text` is not this command (case-insensitive name)."""
        stripped = text.strip()
        head = self.head
        if len(stripped) < len(head) or stripped[: len(head)].casefold() != head.casefold():
            return None
        rest = stripped[len(head) :]
        if rest and not rest[0].isspace():
            return None
        return rest.strip()

    def __call__(self, event: Event) -> bool:
        return self.message(event) and self.rest_of(_text(event)) is not None

    def parse(self, text: str) -> Command:
        rest = self.rest_of(text)
        if rest is None:
            return Command(self.name)
        return Command(self.name, split_arguments(rest), rest)
