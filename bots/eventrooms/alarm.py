"""The alarm event a webhook announces (`body.event`), read and checked, and the daily digest's text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from framework.errors import InvalidEvent

from .config import EventroomsConfig

__all__ = ["Alarm", "InvalidAlarm", "StartedAlarm", "digest_text", "parse_alarm"]

INT64_MAX = 2**63 - 1


class InvalidAlarm(InvalidEvent):
    """The event carries no usable alarm; the handler fails and the event ends in the dead letters."""


@attrs.frozen
class Alarm:
    """`{id, name, text, organization_id, responder_ids}`: GroupAlarm ids are positive integers."""

    id: int
    name: str
    text: str
    organization_id: int
    responder_ids: tuple[int, ...]

    def fields(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "text": self.text, "organization_id": self.organization_id}


@attrs.frozen
class StartedAlarm:
    """An alarm as remembered in `ctx.state` (`event:<id>`), read back for the digest."""

    id: int
    name: str
    organization_id: int
    room_id: int
    started_at: datetime


def _positive(value: Any, where: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INT64_MAX:
        raise InvalidAlarm(f"{where}: expected a positive integer id, got {value!r}")
    return value


def parse_alarm(data: Mapping[str, Any]) -> Alarm:
    """The `event` object of an event's data; raises InvalidAlarm naming the first bad field."""
    event = data.get("event")
    if not isinstance(event, Mapping):
        raise InvalidAlarm("event: missing; expected {id, name, text, organization_id, responder_ids}")
    name = event.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidAlarm(f"event.name: expected a non-empty string, got {name!r}")
    text = event.get("text", "")
    if not isinstance(text, str):
        raise InvalidAlarm(f"event.text: expected a string, got {text!r}")
    responders = event.get("responder_ids", [])
    if not isinstance(responders, list):
        raise InvalidAlarm(f"event.responder_ids: expected a list of user ids, got {responders!r}")
    return Alarm(
        id=_positive(event.get("id"), "event.id"),
        name=name.strip(),
        text=text.strip(),
        organization_id=_positive(event.get("organization_id"), "event.organization_id"),
        responder_ids=tuple(dict.fromkeys(_positive(user, "event.responder_ids[]") for user in responders)),
    )


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
