"""DevRev's wire types (chats, timeline entries, errors) and the one cattrs converter that reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import cattrs

from adapters import wire
from adapters.wire import format_millis_z as format_date

__all__ = [
    "ApiError",
    "DevRevChat",
    "DisplayPicture",
    "FileInfo",
    "Group",
    "TimelineEntry",
    "TimelineEntryList",
    "UserSummary",
    "format_date",
    "make_converter",
    "parse_date",
]


@attrs.frozen
class FileInfo:
    """The file behind an artifact (a display picture); `size` in bytes."""

    type: str | None = None
    name: str | None = None
    size: int | None = None


@attrs.frozen
class DisplayPicture:
    """An artifact used as a user's picture."""

    id: str
    display_id: str | None = None
    file: FileInfo | None = None


@attrs.frozen
class UserSummary:
    """A user as DevRev embeds it in other objects (`created_by`, a chat's `users`)."""

    id: str
    type: str | None = None
    display_id: str | None = None
    display_name: str | None = None
    display_picture: DisplayPicture | None = None
    email: str | None = None
    full_name: str | None = None
    state: str | None = None


@attrs.frozen
class Group:
    """A group a chat is shared with."""

    id: str
    display_id: str | None = None
    member_type: str | None = None
    name: str | None = None


@attrs.frozen
class DevRevChat:
    """A DevRev chat (a DM among dev users); `users` are its members."""

    id: str
    type: str = "dm"
    display_id: str | None = None
    title: str | None = None
    created_by: UserSummary | None = None
    created_date: datetime | None = None
    modified_by: UserSummary | None = None
    modified_date: datetime | None = None
    users: tuple[UserSummary, ...] = ()
    groups: tuple[Group, ...] = ()

    @property
    def user_ids(self) -> tuple[str, ...]:
        return tuple(user.id for user in self.users)


@attrs.frozen
class TimelineEntry:
    """One entry of an object's timeline; a chat message is a `timeline_comment`."""

    id: str
    type: str = "timeline_comment"
    display_id: str | None = None
    object: str | None = None
    object_display_id: str | None = None
    object_type: str | None = None
    body: str | None = None
    body_type: str | None = None
    visibility: str | None = None
    created_by: UserSummary | None = None
    created_date: datetime | None = None
    modified_by: UserSummary | None = None
    modified_date: datetime | None = None


@attrs.frozen
class TimelineEntryList:
    """One page of `timeline-entries.list`; `next_cursor` is absent on the last page."""

    timeline_entries: tuple[TimelineEntry, ...] = ()
    next_cursor: str | None = None
    prev_cursor: str | None = None


@attrs.frozen
class ApiError:
    """DevRev's error body: always `{type, message, detail}`, plus a few type-specific fields."""

    type: str | None = None
    message: str | None = None
    detail: str | None = None
    field_name: str | None = None
    """Named by `invalid_field` and `missing_required_field` errors."""
    retry_after: float | None = None
    """Seconds to wait, on `too_many_requests`."""
    reference_id: str | None = None
    """Quote it to DevRev support, on `internal_error`."""


def parse_date(value: Any) -> datetime:
    """An aware datetime from DevRev's ISO strings (any fraction length, `Z`, a space) or epoch numbers.

    Epoch numbers are seconds, or milliseconds when past the year 5000 in seconds.
    """
    return wire.parse_timestamp(value, epoch="seconds-or-millis")


def _structure_float(value: Any, _: type) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return float(value.strip())
    raise ValueError(f"expected a number, got {value!r}")


def make_converter() -> cattrs.Converter:
    """DevRev's converter: ids as ints or strings, numbers and 0/1 flags as strings, any date form.

    Unknown keys are ignored (cattrs' default), so new DevRev fields never break parsing.
    """
    converter = cattrs.Converter()
    wire.register_optional_hooks(converter)
    converter.register_structure_hook(str, wire.structure_str)
    converter.register_structure_hook(int, lambda value, _: wire.structure_int(value, booleans=True))
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(bool, wire.structure_flag)
    converter.register_structure_hook(datetime, lambda value, _: parse_date(value))
    converter.register_unstructure_hook(datetime, format_date)
    return converter
