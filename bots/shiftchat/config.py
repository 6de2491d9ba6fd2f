"""The `[plugins.shiftchat]` table: chat name and message templates, the reminder lead time, the display zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from bots.config_checks import template, time_zone

__all__ = ["TEMPLATE_FIELDS", "ShiftchatConfig", "check_template"]

TEMPLATE_FIELDS = ("title", "starts_at", "shift_id", "reminder_minutes")
"""What a template may use: `{title}`, `{starts_at:%a %d %b %H:%M}` (a datetime), `{shift_id}`, `{reminder_minutes}`."""

_EXAMPLE: dict[str, Any] = {
    "title": "Morning",
    "starts_at": datetime(2025, 6, 2, 8, 0, tzinfo=UTC),
    "shift_id": "shf_1",
    "reminder_minutes": 60,
}


check_template = template(_EXAMPLE, empty_hint="give a text such as 'Shift {title}'")
"""Refuses, when the config is read, a template that names an unknown field or has a bad format."""


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
    timezone: str | None = attrs.field(default=None, validator=time_zone)
    """IANA zone the times are shown in (and a `starts_at` without offset is read in); unset: as sent."""

    @property
    def zone(self) -> ZoneInfo | None:
        return None if self.timezone is None else ZoneInfo(self.timezone)
