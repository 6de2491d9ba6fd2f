"""Sample deliveries of the workforce system's shift webhook, signed like the `/hooks/shiftchat` route expects."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bots.samples import WebhookSample

__all__ = ["PATH", "SAMPLES", "SECRET", "SHIFT_ID", "shift_body"]

PATH = "/hooks/shiftchat"
SECRET = "whsec_c2hpZnRjaGF0IGRlbW8gc2VjcmV0LCBub3QgZm9yIHByb2Q="
"""The demo default of `${SHIFTCHAT_WEBHOOK_SECRET}` in bot.toml; never use it for a real deployment."""
SHIFT_ID = "shf_1042"
ZONE = ZoneInfo("Europe/Berlin")


SHIFT_HOURS = 6


def _tomorrow_at(hour: int, minute: int = 0) -> str:
    day = datetime.now(ZONE) + timedelta(days=1)
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0).isoformat()


def shift_body(
    type: str,
    *,
    shift_id: str = SHIFT_ID,
    title: str = "Kitchen morning",
    starts_at: str | None = None,
    worker_ids: tuple[str, ...] = ("120915", "2041"),
) -> dict[str, Any]:
    """A webhook body `{type, shift: {id, title, starts_at, ends_at, worker_ids}}` (starts_at default: tomorrow
    08:00 Berlin; the shift lasts SHIFT_HOURS)."""
    start = starts_at or _tomorrow_at(8)
    return {
        "type": type,
        "shift": {
            "id": shift_id,
            "title": title,
            "starts_at": start,
            "ends_at": (datetime.fromisoformat(start) + timedelta(hours=SHIFT_HOURS)).isoformat(),
            "worker_ids": list(worker_ids),
        },
    }


def _sample(name: str, description: str, at: tuple[int, int] = (8, 0), **shift: Any) -> WebhookSample:
    return WebhookSample(
        name=name,
        description=description,
        path=PATH,
        body=lambda: shift_body(name, starts_at=_tomorrow_at(*at), **shift),
        scheme="standard-webhooks",
        secret=SECRET,
    )


SAMPLES: tuple[WebhookSample, ...] = (
    _sample(
        "shift.published",
        "Shift shf_1042 'Kitchen morning' tomorrow 08:00 (Berlin) with Aaron Labrado and Maria Lopez: "
        "the bot opens the shift chat, welcomes them and plans a reminder an hour before.",
    ),
    _sample(
        "shift.renamed",
        "The same shift becomes 'Kitchen early' at 07:30: the chat is renamed and the reminder moved.",
        title="Kitchen early",
        at=(7, 30),
    ),
    _sample(
        "shift.roster_changed",
        "Priya Shah replaces Maria Lopez on the shift: the chat's members are replaced.",
        title="Kitchen early",
        at=(7, 30),
        worker_ids=("120915", "5377"),
    ),
    _sample(
        "shift.cancelled",
        "The shift is cancelled: the reminder is dropped and the chat is told.",
        title="Kitchen early",
        at=(7, 30),
        worker_ids=("120915", "5377"),
    ),
)
