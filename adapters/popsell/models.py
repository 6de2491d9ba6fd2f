"""Popsell API v2 wire types (frozen attrs) and the one cattrs converter that absorbs Popsell's quirks.

Quirks absorbed: ids and counts sent as ints or numeric strings; 0/1 flags sent as booleans, ints or strings;
`source` typed string but sent as an int (kept as an int here); `established_dialogue` either a boolean or a
date like `2023-10-06 13:41:09.123` (space, no zone: read as UTC); `date_insert` with microseconds and `Z`.
Unknown extra fields are ignored (cattrs' default; keep it that way) and every field may be absent or null.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs
import cattrs

from adapters import wire

__all__ = [
    "Ambassador",
    "Author",
    "ChatMessage",
    "Chatroom",
    "ChatroomPivot",
    "DialogueState",
    "Page",
    "Rating",
    "Summary",
    "Token",
    "make_converter",
    "parse_bool",
    "parse_datetime",
    "parse_int",
]

T = TypeVar("T")

DialogueState = datetime | bool
"""`established_dialogue`: when the dialogue was established, or a plain true/false."""

TYPE_CHATROOM_ONE_TO_ONE = 0
TYPE_CHATROOM_ONE_TO_MANY = 7
TYPE_MESSAGE_TEXT = 0


@attrs.frozen
class Token:
    """The answer of `POST /auth/token`."""

    token: str


@attrs.frozen
class ChatroomPivot:
    """One ambassador's own state in one chatroom."""

    id_chatroom: int | None = None
    id_ambassador: int | None = None
    last_read_message: int | None = None
    is_blocked: bool = False
    archived: bool = False


@attrs.frozen
class Ambassador:
    """A chatroom member (a brand ambassador or a customer)."""

    id_ambassador: int
    image: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    username: str | None = None
    email: str | None = None
    email_tmp: str | None = None
    active: int | None = None
    status: int | None = None
    online: bool = False
    last_action_date: datetime | None = None
    customer_id: str | None = None
    anonymized: bool = False
    chatroom_pivot_data: tuple[ChatroomPivot, ...] = ()


@attrs.frozen
class Rating:
    value: int | None = None
    comment: str | None = None


@attrs.frozen
class Summary:
    date_insert: str | None = None
    summary: str | None = None
    anomaly: int | None = None
    topic: int | None = None


@attrs.frozen
class Chatroom:
    """A chatroom: `type_chatroom` 0 one to one, 7 one to many; `source` 0 direct, 1 waiting list, 2 hot."""

    id_chatroom: int
    ambassadors: tuple[Ambassador, ...] = ()
    date_insert: datetime | None = None
    last_message_date: datetime | None = None
    type_chatroom: int | None = None
    type_discussion: int | None = None
    source: int | None = None
    established_dialogue: DialogueState | None = None
    last_rating: Rating | None = None
    last_summary: Summary | None = None


@attrs.frozen
class Author:
    """Who wrote a message (the documentation leaves the object open; these are the fields seen)."""

    id_ambassador: int | None = None
    firstname: str | None = None
    lastname: str | None = None
    username: str | None = None
    image: str | None = None


@attrs.frozen
class ChatMessage:
    """A message in a chatroom; `type_message` 0 is text."""

    id_message: int
    date_insert: datetime | None = None
    author: Author | None = None
    content: str | None = None
    type_message: int | None = None
    status_moderation: int | None = None


@attrs.frozen
class Page(Generic[T]):
    """One page of a Laravel-paginated list."""

    data: tuple[T, ...] = ()
    current_page: int = 1
    last_page: int | None = None
    per_page: int | None = None
    total: int | None = None
    next_page_url: str | None = None

    @property
    def has_more(self) -> bool:
        """Whether a next page exists: `next_page_url` says so, or else `last_page` does."""
        if not self.data:
            return False
        if self.next_page_url:
            return True
        return self.last_page is not None and self.current_page < self.last_page


def parse_int(value: Any) -> int:
    """An int sent as an int, an integral float or a numeric string."""
    return wire.structure_int(value)


def parse_bool(value: Any) -> bool:
    """A flag sent as a boolean, 0/1, or a string ("0", "1", "true", "false", "on", "off")."""
    return wire.structure_flag(value, on_off=True)


def parse_datetime(value: Any) -> datetime:
    """ISO dates with or without `T`, `Z`, fractions and a zone; a date without a zone is read as UTC.

    Numbers are refused: Popsell is not known to send epoch times.
    """
    return wire.parse_timestamp(value, epoch="refuse")


def _parse_dialogue(value: Any, _: Any) -> DialogueState | None:
    if value is None:
        return None
    if isinstance(value, bool | int):
        return parse_bool(value)
    if isinstance(value, str):
        flag = wire.flag_word(value, on_off=True)
        if flag is not None:
            return flag
    return parse_datetime(value)


def make_converter() -> cattrs.Converter:
    """The Popsell converter: strict on shape, lenient on Popsell's ways of writing ints, flags and dates."""
    converter = cattrs.Converter()
    wire.register_optional_hooks(converter)
    converter.register_structure_hook(int, lambda value, _: parse_int(value))
    converter.register_structure_hook(bool, lambda value, _: parse_bool(value))
    converter.register_structure_hook(datetime, lambda value, _: parse_datetime(value))
    converter.register_structure_hook(DialogueState | None, _parse_dialogue)
    converter.register_structure_hook(DialogueState, _parse_dialogue)
    converter.register_unstructure_hook(datetime, lambda value: value.isoformat())
    return converter
