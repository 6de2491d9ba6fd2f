"""Signing webhook deliveries the way providers do, for tests and for `chatwright send-sample`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid

__all__ = ["hmac_sha256_signature", "standard_webhooks_headers"]


def standard_webhooks_headers(
    secret: str, body: bytes, *, msg_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp` and `webhook-signature` for `body`, signed with a `whsec_` secret."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": f"v1,{signature}"}


def hmac_sha256_signature(secret: str, body: bytes, *, prefix: str = "", encoding: str = "hex") -> str:
    """The value of a GitHub-style (`sha256=<hex>`) or DevRev-style (`<hex>`) signature header."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    encoded = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    return f"{prefix}{encoded}"
