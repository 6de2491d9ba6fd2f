"""The `[plugins.shiftchat]` table: chat name and message templates, the reminder lead time, the display zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

__all__ = ["TEMPLATE_FIELDS", "ShiftchatConfig", "check_template"]

TEMPLATE_FIELDS = ("title", "starts_at", "shift_id", "reminder_minutes")
"""What a template may use: `{title}`, `{starts_at:%a %d %b %H:%M}` (a datetime), `{shift_id}`, `{reminder_minutes}`."""

_EXAMPLE: dict[str, Any] = {
    "title": "Morning",
    "starts_at": datetime(2025, 6, 2, 8, 0, tzinfo=UTC),
    "shift_id": "shf_1",
    "reminder_minutes": 60,
}


def check_template(_: Any, attribute: attrs.Attribute[Any], template: str) -> None:
    """Refuse a template that names an unknown field or has a bad format, when the config is read."""
    try:
        rendered = template.format(**_EXAMPLE)
    except KeyError as error:
        fields = ", ".join(TEMPLATE_FIELDS)
        raise ValueError(f"{attribute.name}: unknown field {error}; use {fields}") from None
    except (ValueError, IndexError, AttributeError) as error:
        raise ValueError(f"{attribute.name}: {template!r} is not a valid template: {error}") from None
    if not rendered.strip():
        raise ValueError(f"{attribute.name}: empty; give a text such as 'Shift {{title}}'")


def _check_zone(_: Any, attribute: attrs.Attribute[Any], name: str | None) -> None:
    if name is None:
        return
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{attribute.name}: unknown time zone {name!r}; use an IANA name like 'Europe/Berlin'"
        ) from None


@attrs.frozen(kw_only=True)
class ShiftchatConfig:
    """`[plugins.shiftchat]`; every key has a default."""

    chat_name: str = attrs.field(default="Shift {title} {starts_at:%a %d %b %H:%M}", validator=check_template)
    """The worker chat's name; a renamed or moved shift renames the chat."""
    welcome: str = attrs.field(
        default="Welcome to the {title} shift on {starts_at:%a %d %b} at {starts_at:%H:%M}. "
        "I will remind you {reminder_minutes} minutes before it starts.",
        validator=check_template,
    )
    """Posted once, when the chat is created."""
    reminder: str = attrs.field(
        default="Your shift {title} starts at {starts_at:%H:%M}.", validator=check_template
    )
    """Posted `reminder_minutes` before the shift starts."""
    cancelled: str = attrs.field(
        default="The {title} shift on {starts_at:%a %d %b} at {starts_at:%H:%M} was cancelled.",
        validator=check_template,
    )
    """Posted once when the shift is cancelled."""
    reminder_minutes: int = attrs.field(default=60, validator=attrs.validators.ge(0))
    timezone: str | None = attrs.field(default=None, validator=_check_zone)
    """IANA zone the times are shown in (and a `starts_at` without offset is read in); unset: as sent."""

    @property
    def zone(self) -> ZoneInfo | None:
        return None if self.timezone is None else ZoneInfo(self.timezone)
