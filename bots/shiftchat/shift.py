"""The shift a webhook announces (`body.shift`), read and checked, and the texts rendered from the templates."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

import attrs

from framework.errors import InvalidEvent
from framework.payloads import Id, NonEmptyStr

__all__ = ["InvalidShift", "Shift", "ShiftCancelled", "ShiftChanged", "parse_time", "render"]


class InvalidShift(InvalidEvent):
    """A stored shift time that is not ISO 8601; the handler fails and the event ends in the dead letters."""


def _unique(ids: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ids))


@attrs.frozen
class Shift:
    """`{id, title, starts_at, worker_ids, ends_at?}` from the body (`body.shift`), checked at the webhook.

    `starts_at` is as sent: aware, or naive (then `in_zone` reads it in the configured zone).
    """

    id: Id
    title: NonEmptyStr
    starts_at: datetime
    worker_ids: tuple[Id, ...] = attrs.field(default=(), converter=_unique)
    ends_at: datetime | None = None

    def in_zone(self, zone: tzinfo | None) -> Shift:
        """The shift with aware times: naive ones are read in `zone` (or UTC)."""
        ends = self.ends_at
        if self.starts_at.tzinfo is not None and (ends is None or ends.tzinfo is not None):
            return self
        starts = self.starts_at if self.starts_at.tzinfo else self.starts_at.replace(tzinfo=zone or UTC)
        if ends is not None and ends.tzinfo is None:
            ends = ends.replace(tzinfo=zone or UTC)
        return attrs.evolve(self, starts_at=starts, ends_at=ends)


@attrs.frozen
class ShiftChanged:
    """The payload of `shift.published`, `shift.renamed` and `shift.roster_changed`: `{"shift": {...}}`."""

    shift: Shift


@attrs.frozen
class ShiftRef:
    id: Id


@attrs.frozen
class ShiftCancelled:
    """The payload of `shift.cancelled`: only the shift's id is needed."""

    shift: ShiftRef


def parse_time(value: Any, zone: tzinfo | None = None) -> datetime:
    """An aware datetime from ISO 8601 (`2025-06-02T08:00:00+02:00`, `...Z`); naive is read in `zone` or UTC."""
    if not isinstance(value, str):
        raise InvalidShift(f"shift.starts_at: expected an ISO 8601 string, got {value!r}")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidShift(
            f"shift.starts_at: {value!r} is not ISO 8601; expected e.g. 2025-06-02T08:00:00+02:00"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone or UTC)


def render(
    template: str, shift_id: str, title: str, starts_at: datetime, *, zone: tzinfo | None, minutes: int
) -> str:
    """A template with the shift's fields; `starts_at` is shown in `zone` (or in its own offset)."""
    shown = starts_at.astimezone(zone) if zone is not None else starts_at
    return template.format(title=title, starts_at=shown, shift_id=shift_id, reminder_minutes=minutes)
