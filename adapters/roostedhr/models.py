"""RoostedHR's wire types (chats, members, messages, pages) and the one converter that reads its quirks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import cattrs

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

_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"0", "false", "no", ""})
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
        return (self.read or "").strip().lower() in _TRUE


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
    """Read `2024-01-05T20:13:00.000Z`, `2023-11-07T05:31:56Z`, `2024-01-05 20:13:00` or Unix seconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        text = value.strip()
        if text in _ZERO_DATES:
            return None
        parsed = datetime.fromisoformat(text)
    else:
        raise ValueError(f"expected a timestamp, got {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_timestamp(value: datetime) -> str:
    """The provider's own form: `2024-01-05T20:13:00.000Z` (UTC, milliseconds)."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _structure_flag(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"expected a 0/1 flag, got {value!r}")


def _structure_int(value: Any, _: type) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError(f"expected an integer, got {value!r}")


def _structure_text(value: Any, _: type) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string, got {value!r}")


def make_converter() -> cattrs.Converter:
    """The RoostedHR converter: flags and counts as "1"/1, ids as strings or ints, several date forms.

    Extra keys are ignored (cattrs' default), so fields the provider adds later do not break parsing.
    """
    converter = cattrs.Converter()
    converter.register_structure_hook(bool, _structure_flag)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(str, _structure_text)
    converter.register_structure_hook(datetime, lambda value, _: parse_timestamp(value))
    converter.register_unstructure_hook(datetime, format_timestamp)
    return converter
