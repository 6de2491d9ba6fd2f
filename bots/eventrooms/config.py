"""The `[plugins.eventrooms]` table: room and message templates, the digest's texts and zone, how long to remember."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from bots.config_checks import template, time_zone

__all__ = ["ALARM_FIELDS", "DIGEST_FIELDS", "LINE_FIELDS", "EventroomsConfig"]

_NOW = datetime(2025, 6, 2, 18, 0, tzinfo=UTC)
ALARM_FIELDS: dict[str, Any] = {"id": 4712, "name": "Fire", "text": "Fire alarm", "organization_id": 1}
"""What room_name and message may use: `{id}`, `{name}`, `{text}`, `{organization_id}`."""
DIGEST_FIELDS: dict[str, Any] = {"count": 2, "since": _NOW, "until": _NOW, "organization_id": 1}
"""What digest_title may use; `{since}` and `{until}` are datetimes (`{until:%a %d %b}`)."""
LINE_FIELDS: dict[str, Any] = {
    "id": 4712,
    "name": "Fire",
    "organization_id": 1,
    "started_at": _NOW,
    "room_id": 12,
}
"""What digest_line may use: `{id}`, `{name}`, `{organization_id}`, `{started_at:%H:%M}`, `{room_id}`."""


@attrs.frozen(kw_only=True)
class EventroomsConfig:
    """`[plugins.eventrooms]`; every key has a default."""

    room_name: str = attrs.field(default="Alarm {id}: {name}", validator=template(ALARM_FIELDS))
    """The event chatroom's name (keep `{id}` in it: a lost answer is recovered by finding the room by name)."""
    message: str = attrs.field(default="{text}", validator=template(ALARM_FIELDS))
    """Posted into the new room once (nothing is posted when the alarm has no text)."""
    digest_title: str = attrs.field(
        default="Alarm digest {until:%a %d %b}: {count} alarm(s) since {since:%a %H:%M}",
        validator=template(DIGEST_FIELDS),
    )
    digest_line: str = attrs.field(
        default="- {started_at:%H:%M} {name} (#{id})", validator=template(LINE_FIELDS)
    )
    """One line per alarm under the title."""
    post_empty_digest: bool = False
    """Also post a digest (to the adapter's own organization) when no alarm started."""
    timezone: str = attrs.field(default="Europe/Berlin", validator=time_zone)
    """The zone the digest shows times in; keep it equal to the digest schedule's timezone."""
    remember_days: int = attrs.field(default=30, validator=attrs.validators.ge(1))
    """Days an alarm's room is remembered (re-sent alarms reuse it; the digest reads it)."""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
