"""Inbound chat messages: `ChatMessage`, the `chat.message` event it travels in, and what adapters offer to deliver them.

Whether a provider pushes messages (a webhook route turns them into events) or only lists them (a poller watches
chats), each one becomes the same event: type `chat.message`, id `chat.message:<adapter>:<chat>:<message>` - the
inbox's dedupe key, so a message pushed twice, or polled again after a crash, is handled once.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from framework.errors import InvalidEvent
from framework.events import Event, new_event

__all__ = [
    "MESSAGE_EVENT",
    "ChatMessage",
    "Intake",
    "MessageFeed",
    "Polled",
    "PushFeed",
    "intake_of",
    "is_own",
    "message_event",
    "message_event_id",
    "message_ordering_key",
]

MESSAGE_EVENT = "chat.message"
"""The type of every inbound message event, whatever its provider."""

MAX_READABLE_ID = 200
"""Longer event ids are hashed (as webhook delivery ids are)."""


class Intake(enum.StrEnum):
    """How an adapter delivers what people write: the provider pushes it, or chatwright polls for it."""

    PUSH = "push"
    POLL = "poll"


@attrs.frozen(kw_only=True)
class ChatMessage:
    """A message someone wrote in a chat, as every adapter delivers it; `raw` is the provider's own object (JSON)."""

    provider: str
    adapter: str
    chat_id: str
    message_id: str
    sender_id: str | None
    sender_name: str | None = None
    text: str = ""
    sent_at: datetime | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)

    def to_data(self) -> dict[str, Any]:
        """The event's `data` (JSON)."""
        return {
            "provider": self.provider,
            "adapter": self.adapter,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "sender_id": self.sender_id,
            "sender_name": self.sender_name,
            "text": self.text,
            "sent_at": None if self.sent_at is None else self.sent_at.isoformat(),
            "raw": self.raw,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ChatMessage:
        """The message a `chat.message` event carries; InvalidEvent (dead-lettered at once) when it carries none."""
        try:
            sent = data.get("sent_at")
            sent_at = None if sent is None else datetime.fromisoformat(sent)
            return cls(
                provider=_text(data, "provider"),
                adapter=_text(data, "adapter"),
                chat_id=_text(data, "chat_id"),
                message_id=_text(data, "message_id"),
                sender_id=_optional(data, "sender_id"),
                sender_name=_optional(data, "sender_name"),
                text=_optional(data, "text") or "",
                sent_at=None if sent_at is None or sent_at.tzinfo else sent_at.replace(tzinfo=UTC),
                raw=data.get("raw"),
            )
        except (TypeError, ValueError, KeyError) as error:
            raise InvalidEvent(f"not a chat.message: {error}") from None

    @classmethod
    def from_event(cls, event: Event) -> ChatMessage:
        if event.type != MESSAGE_EVENT:
            raise InvalidEvent(f"event {event.id} is a {event.type}, not a {MESSAGE_EVENT}")
        return cls.from_data(event.data)


def _text(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if type(value) is not str or not value:
        raise ValueError(f"{key}: expected a non-empty string, got {value!r}")
    return value


def _optional(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and type(value) is not str:
        raise ValueError(f"{key}: expected a string, got {value!r}")
    return value


def message_event_id(adapter: str, chat_id: str, message_id: str) -> str:
    """The event id of a message: the same whichever way (push, poll, replica) it arrives."""
    readable = f"{MESSAGE_EVENT}:{adapter}:{chat_id}:{message_id}"
    if len(readable) <= MAX_READABLE_ID and readable.isascii() and readable.isprintable():
        return readable
    return f"{MESSAGE_EVENT}:sha256:{hashlib.sha256(readable.encode()).hexdigest()}"


def message_event(message: ChatMessage, *, source: str) -> Event:
    """The `chat.message` event of `message`; its ordering key is `message_ordering_key(message)`."""
    return new_event(
        MESSAGE_EVENT,
        message.to_data(),
        id=message_event_id(message.adapter, message.chat_id, message.message_id),
        source=source,
        occurred_at=message.sent_at,
    )


def message_ordering_key(message: ChatMessage) -> str:
    """Messages of one chat are handled one at a time, in the order they arrived."""
    return f"chat:{message.adapter}:{message.chat_id}"


@attrs.frozen
class Polled:
    """What one poll of a chat found: the new messages, oldest first, and the cursor to poll from next time."""

    messages: Sequence[ChatMessage]
    cursor: str | None


@runtime_checkable
class MessageFeed(Protocol):
    """An adapter that can deliver the messages people write (framework.messages).

    `intake` says how (push, poll or both; empty: it cannot). `own_id` is the sender id of the adapter's own
    identity (its messages are never delivered); None when it is not known.
    """

    intake: frozenset[Intake]

    @property
    def own_id(self) -> str | None: ...

    def is_own(self, message: ChatMessage) -> bool:
        """Whether the adapter's own identity wrote `message` (the bot must not hear itself)."""
        ...

    async def latest_cursor(self, chat_id: str) -> str | None:
        """The cursor of a chat watched from now on: what it holds already is not delivered."""
        ...

    async def poll_messages(self, chat_id: str, cursor: str | None) -> Polled:
        """The messages of `chat_id` after `cursor` (None: a chat just watched - all of them), oldest first.

        The returned cursor marks the newest one; passing it next time returns only what came after. A
        provider that cannot poll raises `Unsupported`.
        """
        ...


@runtime_checkable
class PushFeed(Protocol):
    """An adapter whose provider pushes messages: it reads the message out of a webhook body."""

    def webhook_message(self, body: dict[str, Any]) -> ChatMessage | None:
        """The chat message a delivery carries, or None when it carries none (another kind of delivery)."""
        ...


def intake_of(provider: object) -> frozenset[Intake]:
    """How `provider` can deliver messages (empty when it cannot)."""
    if isinstance(provider, MessageFeed):
        return provider.intake
    return frozenset()


def is_own(provider: object, message: ChatMessage) -> bool:
    """Whether the adapter's own identity wrote `message` (the bot must not hear itself); an adapter that cannot
    tell counts every message as its own."""
    return provider.is_own(message) if isinstance(provider, MessageFeed) else True
