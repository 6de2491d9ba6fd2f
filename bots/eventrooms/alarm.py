"""The alarm event a webhook announces (`body.event`), read and checked, and the daily digest's text."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from framework.payloads import NonEmptyStr, PositiveId

from .config import EventroomsConfig

__all__ = ["Alarm", "AlarmStarted", "StartedAlarm", "digest_text"]


def _unique(ids: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(ids))


def _strip(text: str) -> str:
    return text.strip()


@attrs.frozen
class Alarm:
    """`{id, name, text, organization_id, responder_ids}` (`body.event`): GroupAlarm ids are positive integers
    (a string of digits is read as one), checked at the webhook."""

    id: PositiveId
    name: NonEmptyStr
    organization_id: PositiveId
    text: str = attrs.field(default="", converter=_strip)
    responder_ids: tuple[PositiveId, ...] = attrs.field(default=(), converter=_unique)

    def fields(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "text": self.text, "organization_id": self.organization_id}


@attrs.frozen
class AlarmStarted:
    """The payload of `alarm.started`: `{"event": {...}}`."""

    event: Alarm


@attrs.frozen
class StartedAlarm:
    """An alarm as remembered in `ctx.state` (`event:<id>`), read back for the digest."""

    id: int
    name: str
    organization_id: int
    room_id: int
    started_at: datetime


def digest_text(
    config: EventroomsConfig,
    organization_id: int,
    alarms: Sequence[StartedAlarm],
    since: datetime,
    until: datetime,
) -> str:
    """The digest for one organization: the title, then one line per alarm, oldest first."""
    zone = config.zone
    title = config.digest_title.format(
        count=len(alarms),
        since=since.astimezone(zone),
        until=until.astimezone(zone),
        organization_id=organization_id,
    )
    lines = [
        config.digest_line.format(
            id=alarm.id,
            name=alarm.name,
            organization_id=alarm.organization_id,
            started_at=alarm.started_at.astimezone(zone),
            room_id=alarm.room_id,
        )
        for alarm in sorted(alarms, key=lambda alarm: (alarm.started_at, alarm.id))
    ]
    return "\n".join([title, *lines])
