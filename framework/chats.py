"""The unified chat API every adapter implements: Chat, Message, the ChatProvider protocol, capabilities."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

__all__ = ["Capability", "Chat", "ChatProvider", "InDoubtPolicy", "Message", "ReadBack", "member_ids"]


class Capability(enum.StrEnum):
    """One operation of the unified API; `ChatProvider.capabilities` lists those a provider has."""

    CREATE_CHAT = "create_chat"
    RENAME_CHAT = "rename_chat"
    SET_MEMBERS = "set_members"
    POST_MESSAGE = "post_message"
    GET_CHAT = "get_chat"
    LIST_CHATS = "list_chats"
    LIST_MESSAGES = "list_messages"
    DELETE_CHAT = "delete_chat"


@attrs.frozen
class Chat:
    """A chat at a provider. `id` is always a string, whatever the provider uses; `raw` is its own object."""

    provider: str
    id: str
    name: str | None = None
    members: tuple[str, ...] = ()
    created_at: datetime | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class Message:
    """A message posted in a chat; `raw` is the provider's own object (None when it answered no body)."""

    provider: str
    chat_id: str
    id: str | None = None
    text: str = ""
    sent_at: datetime | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)


def member_ids(members: Iterable[str | int]) -> tuple[str, ...]:
    """Normalise member ids given as ints or strings to the unified form (strings)."""
    return tuple(str(member) for member in members)


@runtime_checkable
class ChatProvider(Protocol):
    """The unified chat API. What a provider lacks raises `framework.errors.Unsupported`."""

    name: str
    capabilities: frozenset[Capability]

    async def create_chat(self, name: str | None, members: Iterable[str | int], **options: Any) -> Chat: ...

    async def rename_chat(self, chat_id: str | int, name: str) -> Chat: ...

    async def set_members(self, chat_id: str | int, members: Iterable[str | int]) -> Chat: ...

    async def post_message(self, chat_id: str | int, text: str) -> Message: ...

    async def get_chat(self, chat_id: str | int) -> Chat: ...

    def list_chats(self) -> AsyncIterator[Chat]: ...

    def list_messages(self, chat_id: str | int) -> AsyncIterator[Message]: ...

    async def delete_chat(self, chat_id: str | int) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class ReadBack(Protocol):
    """What an adapter reads back from its provider to tell whether a step in doubt took effect.

    A step is in doubt when its earlier attempt may have reached the provider without its result being recorded
    (the process died during the call, the call timed out, the connection was lost after sending, a 5xx answered a
    request that is not safe to repeat). Before such a step is performed again, the step journal asks the adapter
    whether the effect is already there; if it is, that result is recorded and returned instead.

    `readback` lists the operations the provider can answer for (`Capability.CREATE_CHAT`,
    `Capability.POST_MESSAGE`); for the others the methods raise `framework.errors.Unsupported`.
    Both look only at what was made at or after `since` (the time the step began, less a little clock skew).
    """

    readback: frozenset[Capability]

    async def find_chat(
        self, name: str | None, members: tuple[str, ...], since: datetime, **options: Any
    ) -> Chat | None:
        """The chat `create_chat(name, members, **options)` would have made, made at or after `since`, or None."""
        ...

    async def find_message(self, chat_id: str, text: str, since: datetime) -> Message | None:
        """The message `post_message(chat_id, text)` would have posted, sent at or after `since`, or None."""
        ...


class InDoubtPolicy(enum.StrEnum):
    """What a step in doubt does when its adapter cannot read back whether it took effect."""

    REPEAT = "repeat"
    """Perform it again (at least once): logged as a possible duplicate and counted."""
    FAIL = "fail"
    """Do not guess: the handler fails with StepInDoubt and the event is dead-lettered for an operator."""
