"""GroupAlarm Messenger wire types (attrs), the request path table, and the cattrs converter for quirks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from adapters import wire

__all__ = [
    "DEFAULT_BASE_URL",
    "Chatroom",
    "ChatroomInput",
    "ChatroomPage",
    "Paths",
    "SentMessage",
    "make_converter",
]

DEFAULT_BASE_URL = "https://app.groupalarm.com/api/v1/chat"

ROOM_PLACEHOLDER = "{roomID}"
ORGANIZATION_PLACEHOLDER = "{organizationID}"


def _path(*placeholders: str) -> Any:
    """A path field: starts with '/', and holds the placeholders the operation fills in."""

    def check(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or not value.startswith("/"):
            raise ValueError(f"paths.{attribute.name}: {value!r} must be a string starting with '/'")
        for placeholder in placeholders:
            if placeholder not in value:
                raise ValueError(f"paths.{attribute.name}: {value!r} must contain {placeholder}")

    return check


@attrs.frozen(kw_only=True)
class Paths:
    """Every request path, relative to `base_url`; the public spec leaves them out, so each is overridable."""

    event_chatroom: str = attrs.field(default="/chatroom", validator=_path())
    list_chatrooms: str = attrs.field(default="/chatrooms", validator=_path())
    create_chatroom: str = attrs.field(default="/chatroom", validator=_path())
    create_default_chatroom: str = attrs.field(
        default="/chatroom/default/{organizationID}", validator=_path(ORGANIZATION_PLACEHOLDER)
    )
    remove_default_chatroom: str = attrs.field(
        default="/chatroom/default/{organizationID}", validator=_path(ORGANIZATION_PLACEHOLDER)
    )
    get_chatroom: str = attrs.field(default="/chatroom/{roomID}", validator=_path(ROOM_PLACEHOLDER))
    update_chatroom: str = attrs.field(default="/chatroom/{roomID}", validator=_path(ROOM_PLACEHOLDER))
    delete_chatroom: str = attrs.field(default="/chatroom/{roomID}", validator=_path(ROOM_PLACEHOLDER))
    set_avatar: str = attrs.field(default="/chatroom/{roomID}/avatar", validator=_path(ROOM_PLACEHOLDER))
    send_message: str = attrs.field(default="/chatroom/{roomID}/message", validator=_path(ROOM_PLACEHOLDER))

    @staticmethod
    def fill(template: str, *, room_id: int | None = None, organization_id: int | None = None) -> str:
        """The path with its placeholders filled (replace, not format: a custom path may hold braces)."""
        if room_id is not None:
            template = template.replace(ROOM_PLACEHOLDER, str(room_id))
        if organization_id is not None:
            template = template.replace(ORGANIZATION_PLACEHOLDER, str(organization_id))
        return template


@attrs.frozen(kw_only=True)
class Chatroom:
    """A chatroom (`type` "custom", "default" or "event"); unknown newer fields like `admins` are dropped."""

    id: int
    name: str = ""
    organization_id: int | None = None
    assigned_users: tuple[int, ...] = ()
    avatar_url: str | None = None
    event_id: int | None = None
    """The alarm event this room belongs to; None for custom and default rooms (the API sends 0)."""
    scheduled_deletion: datetime | None = None
    """When an event room will be closed; None when no deletion is planned."""
    type: str = ""


@attrs.frozen(kw_only=True)
class ChatroomPage:
    """One page of `GET /chatrooms`: the entries and the total count over all pages."""

    entries: tuple[Chatroom, ...] = ()
    total: int = 0


@attrs.frozen(kw_only=True)
class ChatroomInput:
    """The body of create and update: `{assignedUsers, name, organizationID}` (update sends all three)."""

    assigned_users: tuple[int, ...]
    name: str
    organization_id: int


@attrs.frozen(kw_only=True)
class SentMessage:
    """What a send-message call may answer; the spec shows no body, so every field is optional."""

    id: str | None = None
    message: str = ""
    room_id: int | None = None
    user_id: int | None = None
    created_at: datetime | None = None


GO_ZERO_TIME_YEAR = 1
"""Go services send the zero time `0001-01-01T00:00:00Z` for 'no time'."""


def _structure_optional_id(value: Any, _: type) -> int | None:
    """An id where null, "" and 0 all mean 'none' (Go's zero value)."""
    if value is None or value == "":
        return None
    return wire.structure_int(value) or None


def _structure_id_text(value: Any, _: type) -> str | None:
    """A string id, sent as a string or an integer; null and "" mean 'none'."""
    if value is None or value == "":
        return None
    return wire.structure_str(value)


def _structure_optional_text(value: Any, _: type) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _structure_user_ids(value: Any, _: type) -> tuple[int, ...]:
    """A list of user ids; Go sends `null` for an empty list."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list of user ids, got {value!r}")
    return tuple(wire.structure_int(item) for item in value)


def parse_time(value: Any) -> datetime | None:
    """A time, or None for null, "" and Go's zero time (`0001-01-01T00:00:00Z`).

    RFC 3339 with any fraction (Go sends nanoseconds), `Z` or an offset, a space for `T`; or Unix seconds
    (milliseconds when past 1e11), also as a string of digits. A time without a zone is taken as UTC.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    moment = wire.parse_timestamp(value, epoch="seconds-or-millis")
    return None if moment.year == GO_ZERO_TIME_YEAR else moment


def _structure_time(value: Any, _: type) -> datetime | None:
    return parse_time(value)


def make_converter() -> cattrs.Converter:
    """The GroupAlarm converter: camelCase wire names, ids as ints or strings, Go zero values as None."""
    converter = cattrs.Converter()
    wire.register_optional_hooks(converter)
    converter.register_structure_hook(int, wire.structure_int)
    converter.register_structure_hook(datetime, _structure_time)
    user_ids = override(rename="assignedUsers", struct_hook=_structure_user_ids)
    converter.register_structure_hook(
        Chatroom,
        make_dict_structure_fn(
            Chatroom,
            converter,
            organization_id=override(rename="organizationID", struct_hook=_structure_optional_id),
            assigned_users=user_ids,
            avatar_url=override(rename="avatarURL", struct_hook=_structure_optional_text),
            event_id=override(rename="eventID", struct_hook=_structure_optional_id),
            scheduled_deletion=override(rename="scheduledDeletion", struct_hook=_structure_time),
        ),
    )

    def structure_page(value: Any, _: type) -> ChatroomPage:
        if not isinstance(value, dict):
            raise ValueError(f"expected an object with entries and total, got {type(value).__name__}")
        entries = value.get("entries") or []
        if not isinstance(entries, list):
            raise ValueError(f"entries: expected a list, got {type(entries).__name__}")
        rooms = tuple(converter.structure(entry, Chatroom) for entry in entries)
        total = value.get("total")
        return ChatroomPage(entries=rooms, total=len(rooms) if total is None else wire.structure_int(total))

    converter.register_structure_hook(ChatroomPage, structure_page)
    converter.register_structure_hook(
        SentMessage,
        make_dict_structure_fn(
            SentMessage,
            converter,
            id=override(struct_hook=_structure_id_text),
            message=override(struct_hook=lambda value, _: "" if value is None else str(value)),
            room_id=override(rename="roomID", struct_hook=_structure_optional_id),
            user_id=override(rename="userID", struct_hook=_structure_optional_id),
            created_at=override(rename="createdAt", struct_hook=_structure_time),
        ),
    )
    converter.register_unstructure_hook(
        ChatroomInput,
        make_dict_unstructure_fn(
            ChatroomInput,
            converter,
            assigned_users=override(rename="assignedUsers", unstruct_hook=list),
            organization_id=override(rename="organizationID"),
        ),
    )
    return converter
