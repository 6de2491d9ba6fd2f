"""The RoostedHR emulator's in-memory world (workers, chats, messages) and its JSON."""

from __future__ import annotations

import random
import string
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from .models import format_timestamp

__all__ = ["EmulatedWorker", "RoostedState", "StoredChat", "StoredMessage"]

_ID_ALPHABET = string.ascii_letters + string.digits


def _flag(value: bool) -> str:
    # The documented example answers 0/1 flags and counts as strings; the emulator does the same.
    return "1" if value else "0"


@attrs.frozen
class EmulatedWorker:
    id: str
    name_first: str
    name_last: str
    selected_picture_location: str

    @property
    def full_name(self) -> str:
        return f"{self.name_first} {self.name_last}"

    def as_member(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name_first": self.name_first,
            "name_last": self.name_last,
            "selected_picture_location": self.selected_picture_location,
        }


@attrs.define
class StoredMessage:
    id: str
    text: str
    sender_id: str
    created: datetime
    read_by: set[str] = attrs.field(factory=set)


@attrs.define
class StoredChat:
    id: str
    name: str
    creator_id: str
    members: list[str]
    created: datetime
    messages: list[StoredMessage] = attrs.field(factory=list)
    """Oldest first; lists answer newest first."""

    @property
    def last_active(self) -> datetime:
        """Its `chats_order`, by which chat lists are sorted: the last message's time, else its creation."""
        return self.messages[-1].created if self.messages else self.created


@attrs.define
class RoostedState:
    """Everything the emulator remembers; `reset()` goes back to the seeded workers and no chats."""

    seed_workers: Mapping[str, EmulatedWorker]
    seed: int | None = None
    workers: dict[str, EmulatedWorker] = attrs.field(factory=dict)
    chats: dict[str, StoredChat] = attrs.field(factory=dict)
    """In creation order."""
    next_message_id: int = 1001
    rng: random.Random = attrs.field(factory=random.Random)

    def __attrs_post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.workers = dict(self.seed_workers)
        self.chats.clear()
        self.next_message_id = 1001
        self.rng = random.Random(self.seed)

    def new_chat_id(self) -> str:
        while True:
            chat_id = "".join(self.rng.choice(_ID_ALPHABET) for _ in range(10))
            if chat_id not in self.chats:
                return chat_id

    def create_chat(self, creator_id: str, members: list[str], name: str | None) -> StoredChat:
        everyone = list(dict.fromkeys([creator_id, *members]))
        default_name = ", ".join(self.workers[worker_id].full_name for worker_id in everyone)
        chat = StoredChat(
            id=self.new_chat_id(),
            name=name if name is not None else default_name,
            creator_id=creator_id,
            members=everyone,
            created=datetime.now(UTC),
        )
        self.chats[chat.id] = chat
        return chat

    def add_message(self, chat: StoredChat, sender_id: str, text: str) -> StoredMessage:
        message = StoredMessage(
            id=str(self.next_message_id),
            text=text,
            sender_id=sender_id,
            created=datetime.now(UTC),
            read_by={sender_id},
        )
        self.next_message_id += 1
        chat.messages.append(message)
        return message

    def render_chat(self, chat: StoredChat, viewer_id: str, *, as_list_item: bool = False) -> dict[str, Any]:
        """A chat as `viewer_id` sees it: with `members`, or as a list item (no members, `event_id`)."""
        last = chat.messages[-1] if chat.messages else None
        sender = self.workers.get(last.sender_id) if last else None
        unread = sum(1 for message in chat.messages if viewer_id not in message.read_by)
        rendered: dict[str, Any] = {
            "id": chat.id,
            "name": chat.name,
            "chat_admin": _flag(chat.creator_id == viewer_id),
            "silenced": "0",
            "on_chat": _flag(viewer_id in chat.members),
            "locked": "0",
            "date_created": format_timestamp(chat.created),
            "most_recent_message_id": last.id if last else None,
            "last_message_timestamp": format_timestamp(last.created) if last else None,
            "message": last.text if last else None,
            "name_first": sender.name_first if sender else None,
            "selected_picture_location": sender.selected_picture_location if sender else None,
            "chats_order": format_timestamp(chat.last_active),
            "unread_count": str(unread),
        }
        if as_list_item:
            rendered["auto_add_workers"] = "0"
            rendered["event_id"] = None
        else:
            rendered["members"] = [
                self.workers[worker_id].as_member() for worker_id in chat.members if worker_id in self.workers
            ]
        return rendered

    def render_message(self, message: StoredMessage, viewer_id: str) -> dict[str, Any]:
        sender = self.workers.get(message.sender_id)
        return {
            "id": message.id,
            "message": message.text,
            "sender_id": message.sender_id,
            "sender_name": sender.full_name if sender else None,
            "date_created": format_timestamp(message.created),
            "read": _flag(viewer_id in message.read_by),
        }
