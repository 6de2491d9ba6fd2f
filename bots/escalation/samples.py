"""Sample DevRev webhook deliveries (a P0 update, a comment, the verify handshake), signed like DevRev signs them."""

from __future__ import annotations

import uuid
from typing import Any

from bots.samples import WebhookSample
from framework.events import utcnow

__all__ = [
    "ISSUE_ID",
    "PATH",
    "SAMPLES",
    "SECRET",
    "comment_body",
    "envelope",
    "issue",
    "verify_body",
    "work_updated_body",
]

PATH = "/hooks/escalation"
SECRET = "whsec_K3eXH01unx9fxAkdsdGhv4eGhnr6QduJ"
"""The demo default of `${ESCALATION_WEBHOOK_SECRET}` in bot.toml; never use it for a real deployment."""
WEBHOOK_ID = "don:integration:dvrv-us-1:devo/0:webhook/escalation"
ISSUE_ID = "don:core:dvrv-us-1:devo/0:issue/123"
GRACE = {
    "type": "dev_user",
    "id": "don:identity:dvrv-us-1:devo/0:devu/2",
    "display_id": "DEVU-2",
    "display_name": "grace-hopper",
    "full_name": "Grace Hopper",
}


def _now() -> str:
    return utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(type: str, payload: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """DevRev's webhook body `{id, webhook_id, timestamp, type, <type>: {...}}`, stamped now."""
    return {
        "id": event_id or f"{WEBHOOK_ID}:event/{uuid.uuid4().hex}",
        "webhook_id": WEBHOOK_ID,
        "timestamp": _now(),
        "type": type,
        type: payload,
    }


def issue(
    *,
    priority: str = "p0",
    stage: str = "triage",
    title: str = "Checkout fails for EU cards",
    modified_date: str | None = None,
) -> dict[str, Any]:
    """Issue ISS-123 as DevRev describes a work item."""
    return {
        "type": "issue",
        "id": ISSUE_ID,
        "display_id": "ISS-123",
        "title": title,
        "priority": priority,
        "stage": {"name": stage},
        "owned_by": [GRACE],
        "created_date": "2025-05-02T08:15:00.000Z",
        "modified_date": modified_date or _now(),
    }


def work_updated_body(
    *,
    priority: str = "p0",
    old_priority: str = "p2",
    stage: str = "triage",
    old_stage: str = "triage",
    modified_date: str | None = None,
) -> dict[str, Any]:
    """`work_updated` for ISS-123: by default raised from P2 to P0 in triage, modified now."""
    work = issue(priority=priority, stage=stage, modified_date=modified_date)
    old = issue(priority=old_priority, stage=old_stage, modified_date="2025-05-02T08:15:00.000Z")
    return envelope("work_updated", {"work": work, "old_work": old})


def comment_body(
    *, entry_id: str | None = None, object_id: str = ISSUE_ID, body: str | None = None
) -> dict[str, Any]:
    """`timeline_entry_created`: Grace Hopper comments on ISS-123 (or on `object_id`)."""
    entry = {
        "type": "timeline_comment",
        "id": entry_id or f"don:core:dvrv-us-1:devo/0:comment/{uuid.uuid4().hex[:8]}",
        "object": object_id,
        "object_display_id": "ISS-123",
        "object_type": "issue",
        "body": body or "Reproduced: every EU card payment fails with a 502 from the payment gateway.",
        "body_type": "text",
        "created_by": GRACE,
        "created_date": _now(),
    }
    return envelope("timeline_entry_created", {"entry": entry})


def verify_body(challenge: str | None = None) -> dict[str, Any]:
    """The handshake DevRev sends when the webhook is registered."""
    return envelope("verify", {"challenge": challenge or uuid.uuid4().hex})


def _sample(name: str, description: str, body: Any) -> WebhookSample:
    return WebhookSample(
        name=name,
        description=description,
        path=PATH,
        body=body,
        scheme="hmac-sha256",
        secret=SECRET,
        signature_header="X-DevRev-Signature",
    )


SAMPLES: tuple[WebhookSample, ...] = (
    _sample(
        "devrev.work_updated",
        "Issue ISS-123 'Checkout fails for EU cards' is raised from P2 to P0: the bot opens the responders' "
        "DM and posts a summary, and plans a reminder in an hour.",
        work_updated_body,
    ),
    _sample(
        "devrev.timeline_entry_created",
        "Grace Hopper comments on ISS-123: once the issue is escalated (send devrev.work_updated first), the "
        "comment is relayed to the DM.",
        comment_body,
    ),
    _sample(
        "devrev.verify",
        "DevRev's verify handshake: answered 200 with the challenge; nothing is enqueued.",
        verify_body,
    ),
)
