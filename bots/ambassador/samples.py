"""Sample `match.created` deliveries, signed the way the `/hooks/ambassador` route verifies them."""

from __future__ import annotations

import uuid
from typing import Any

from bots.samples import WebhookSample
from framework.events import utcnow

__all__ = ["MATCH_ID", "PATH", "SAMPLES", "SECRET", "match_body"]

PATH = "/hooks/ambassador"
SECRET = "whsec_dd22Wj7Za7LoWDeT1RXj74YMQvclfzUo"
"""The demo default of `${AMBASSADOR_WEBHOOK_SECRET}` in bot.toml; never use it for a real deployment."""
MATCH_ID = "mt_1001"


def match_body(
    *,
    match_id: str = MATCH_ID,
    customer_ambassador_id: int = 4,
    ambassador_id: int = 1,
    customer_name: str = "Dario Rossi",
) -> dict[str, Any]:
    """A body `{type: "match.created", match: {id, customer_ambassador_id, ambassador_id, customer_name}}`.

    The defaults match the Popsell emulator: customer Dario Rossi (4) with ambassador Alice Martin (1), who is
    also the adapter's `sender_ambassador_id`.
    """
    return {
        "type": "match.created",
        "match": {
            "id": match_id,
            "customer_ambassador_id": customer_ambassador_id,
            "ambassador_id": ambassador_id,
            "customer_name": customer_name,
            "created_at": utcnow().isoformat(timespec="seconds"),
        },
    }


SAMPLES: tuple[WebhookSample, ...] = (
    WebhookSample(
        name="match.created",
        description="Customer Dario Rossi is matched with ambassador Alice Martin (match mt_1001): the bot opens "
        "their one-to-one Popsell chatroom and posts the welcome; send it again and nothing happens twice.",
        path=PATH,
        body=match_body,
        scheme="standard-webhooks",
        secret=SECRET,
    ),
    WebhookSample(
        name="match.created.new",
        description="Customer Chloe Dubois is matched with Alice Martin under a fresh match id: another "
        "chatroom and welcome each time.",
        path=PATH,
        body=lambda: match_body(
            match_id=f"mt_{uuid.uuid4().hex[:8]}", customer_ambassador_id=3, customer_name="Chloe Dubois"
        ),
        scheme="standard-webhooks",
        secret=SECRET,
    ),
)
