"""DevRev's wire types (chats, timeline entries, errors) and the one cattrs converter that reads them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import attrs
import cattrs

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


# More than six fractional digits (DevRev can send nanoseconds) is more than `fromisoformat` reads.
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_date(value: Any) -> datetime:
    """An aware datetime from DevRev's ISO strings (any fraction length, `Z`, a space) or epoch numbers."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        # Epoch values past the year 5000 in seconds are really milliseconds.
        seconds = value / 1000 if abs(value) > 1e11 else value
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    elif isinstance(value, str) and value.strip():
        text = _LONG_FRACTION.sub(r"\1", value.strip().replace(" ", "T", 1))
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        moment = datetime.fromisoformat(text)
    else:
        raise ValueError(f"not a date: {value!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_date(moment: datetime) -> str:
    """DevRev's own form: UTC with milliseconds and a `Z` (`2023-01-01T12:00:00.000Z`)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _structure_str(value: Any, _: type) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string or an integer id, got {value!r}")


def _structure_int(value: Any, _: type) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError(f"expected an integer, got {value!r}")


def _structure_float(value: Any, _: type) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return float(value.strip())
    raise ValueError(f"expected a number, got {value!r}")


_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"0", "false", "no", ""})


def _structure_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected a boolean (or 0/1), got {value!r}")


def make_converter() -> cattrs.Converter:
    """DevRev's converter: ids as ints or strings, numbers and 0/1 flags as strings, any date form.

    Unknown keys are ignored (cattrs' default), so new DevRev fields never break parsing.
    """
    converter = cattrs.Converter()
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(datetime, lambda value, _: parse_date(value))
    converter.register_unstructure_hook(datetime, format_date)
    return converter
