"""The shift a webhook announces (`body.shift`), read and checked, and the texts rendered from the templates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

import attrs

from framework.errors import InvalidEvent

__all__ = ["InvalidShift", "Shift", "parse_shift", "parse_time", "render"]


class InvalidShift(InvalidEvent):
    """The event carries no usable shift; the handler fails and the event ends in the dead letters."""


@attrs.frozen
class Shift:
    """`{id, title, starts_at, worker_ids}` from the body; `starts_at` is aware."""

    id: str
    title: str
    starts_at: datetime
    worker_ids: tuple[str, ...]


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


def _id(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise InvalidShift(f"{where}: expected a non-empty id, got {value!r}")
    return str(value).strip()


def parse_shift(data: Mapping[str, Any], zone: tzinfo | None = None) -> Shift:
    """The `shift` object of an event's data; raises InvalidShift naming the first bad field."""
    shift = data.get("shift")
    if not isinstance(shift, Mapping):
        raise InvalidShift("shift: missing; expected {id, title, starts_at, worker_ids}")
    title = shift.get("title")
    if not isinstance(title, str) or not title.strip():
        raise InvalidShift(f"shift.title: expected a non-empty string, got {title!r}")
    workers = shift.get("worker_ids", [])
    if not isinstance(workers, list):
        raise InvalidShift(f"shift.worker_ids: expected a list of worker ids, got {workers!r}")
    worker_ids = tuple(dict.fromkeys(_id(worker, "shift.worker_ids[]") for worker in workers))
    return Shift(
        id=_id(shift.get("id"), "shift.id"),
        title=title.strip(),
        starts_at=parse_time(shift.get("starts_at"), zone),
        worker_ids=worker_ids,
    )


def render(
    template: str, shift_id: str, title: str, starts_at: datetime, *, zone: tzinfo | None, minutes: int
) -> str:
    """A template with the shift's fields; `starts_at` is shown in `zone` (or in its own offset)."""
    shown = starts_at.astimezone(zone) if zone is not None else starts_at
    return template.format(title=title, starts_at=shown, shift_id=shift_id, reminder_minutes=minutes)
