"""RoostedHR's wire types (chats, members, messages, pages) and the one converter that reads its quirks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import cattrs

from adapters import wire
from adapters.wire import format_millis_z as format_timestamp

__all__ = [
    "ChatMember",
    "ChatPage",
    "MessagePage",
    "RoostedChat",
    "RoostedMessage",
    "format_timestamp",
    "make_converter",
    "parse_timestamp",
]

_ZERO_DATES = frozenset({"", "0000-00-00 00:00:00", "0000-00-00T00:00:00Z", "0000-00-00"})


@attrs.frozen(kw_only=True)
class ChatMember:
    """A worker on a chat, as listed in a chat's `members`."""

    id: str
    name_first: str | None = None
    name_last: str | None = None
    selected_picture_location: str | None = None

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.name_first, self.name_last) if part)


@attrs.frozen(kw_only=True)
class RoostedChat:
    """A chat as the acting worker sees it; list items have no `members` (None) but an `event_id`."""

    id: str
    name: str | None = None
    chat_admin: bool = False
    silenced: bool = False
    on_chat: bool = False
    locked: bool = False
    date_created: datetime | None = None
    most_recent_message_id: str | None = None
    last_message_timestamp: datetime | None = None
    message: str | None = None
    """Preview of the most recent message."""
    name_first: str | None = None
    """First name of the most recent message's sender."""
    selected_picture_location: str | None = None
    chats_order: datetime | None = None
    unread_count: int = 0
    members: tuple[ChatMember, ...] | None = None
    auto_add_workers: bool | None = None
    event_id: str | None = None


@attrs.frozen(kw_only=True)
class RoostedMessage:
    """A message of a chat; `read` stays the string the provider sends ("1"/"0")."""

    id: str
    message: str = ""
    sender_id: str | None = None
    sender_name: str | None = None
    date_created: datetime | None = None
    read: str | None = None

    @property
    def is_read(self) -> bool:
        return wire.flag_word(self.read or "") is True


@attrs.frozen(kw_only=True)
class ChatPage:
    """One page of `GET /workers/{id}/chats`."""

    chats: tuple[RoostedChat, ...] = ()
    has_more: bool = False


@attrs.frozen(kw_only=True)
class MessagePage:
    """One page of `GET /workers/{id}/chats/{chat_id}/messages`."""

    messages: tuple[RoostedMessage, ...] = ()
    has_more: bool = False


def parse_timestamp(value: Any) -> datetime | None:
    """Read `2024-01-05T20:13:00.000Z`, `2023-11-07T05:31:56Z`, `2024-01-05 20:13:00` or Unix seconds.

    Null, "" and the zero dates (`0000-00-00 00:00:00`, `0000-00-00`, ...) mean no date.
    """
    if value is None or (isinstance(value, str) and value.strip() in _ZERO_DATES):
        return None
    return wire.parse_timestamp(value, epoch="seconds")


def make_converter() -> cattrs.Converter:
    """The RoostedHR converter: flags and counts as "1"/1, ids as strings or ints, several date forms.

    Extra keys are ignored (cattrs' default), so fields the provider adds later do not break parsing.
    """
    converter = cattrs.Converter()
    wire.register_optional_hooks(converter)
    converter.register_structure_hook(bool, wire.structure_flag)
    converter.register_structure_hook(int, wire.structure_int)
    converter.register_structure_hook(str, lambda value, _: wire.structure_str(value, floats=True))
    converter.register_structure_hook(datetime, lambda value, _: parse_timestamp(value))
    converter.register_unstructure_hook(datetime, format_timestamp)
    return converter
