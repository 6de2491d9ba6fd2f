"""Sample deliveries of the alarm webhook, signed like the `/hooks/eventrooms` route expects (standard-webhooks)."""

from __future__ import annotations

from typing import Any

from bots.samples import WebhookSample

__all__ = ["PATH", "SAMPLES", "SECRET", "alarm_body"]

PATH = "/hooks/eventrooms"
SECRET = "whsec_ZXZlbnRyb29tcyBkZW1vIHNlY3JldCwgbm90IGZvciBwcm9k"
"""The demo default of `${EVENTROOMS_WEBHOOK_SECRET}` in bot.toml; never use it for a real deployment."""


def alarm_body(
    event_id: int = 4712,
    *,
    name: str = "Fire Main Street 12",
    text: str = "Fire alarm: smoke on the 3rd floor, Main Street 12. Assemble at the station.",
    organization_id: int = 1,
    responder_ids: tuple[int, ...] = (11, 12, 13),
) -> dict[str, Any]:
    """A webhook body `{type: "alarm.started", event: {id, name, text, organization_id, responder_ids}}`."""
    return {
        "type": "alarm.started",
        "event": {
            "id": event_id,
            "name": name,
            "text": text,
            "organization_id": organization_id,
            "responder_ids": list(responder_ids),
        },
    }


SAMPLES: tuple[WebhookSample, ...] = (
    WebhookSample(
        name="alarm.started",
        description="Alarm 4712 'Fire Main Street 12' in organization 1 for users 11, 12 and 13: the bot opens "
        "the room 'Alarm 4712: Fire Main Street 12' with them and posts the alarm text.",
        path=PATH,
        body=alarm_body,
        scheme="standard-webhooks",
        secret=SECRET,
    ),
    WebhookSample(
        name="alarm.started.flood",
        description="A second alarm, 4713 'Flooded cellar', for users 12 and 13: another room; both appear in "
        "the evening digest.",
        path=PATH,
        body=lambda: alarm_body(
            4713, name="Flooded cellar", text="Water in the cellar of the town hall.", responder_ids=(12, 13)
        ),
        scheme="standard-webhooks",
        secret=SECRET,
    ),
)
