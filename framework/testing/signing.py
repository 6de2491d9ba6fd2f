"""Signing webhook deliveries the way providers do, for tests, `chatwright send` and `chatwright send-sample`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid

from framework.triggers.verify_config import (
    BearerVerify,
    HmacSha256Verify,
    StandardWebhooksVerify,
    VerifyConfig,
)

__all__ = ["hmac_sha256_signature", "signature_headers", "standard_webhooks_headers"]


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


def signature_headers(
    verify: VerifyConfig,
    body: bytes,
    *,
    delivery_id: str | None = None,
    timestamp: int | None = None,
    default_header: str | None = None,
) -> dict[str, str]:
    """The headers that make `body` pass a route's `verify` config, signed with its first secret or token.

    standard-webhooks: `webhook-id` (`delivery_id`, else a fresh one), `webhook-timestamp` (now) and
    `webhook-signature`; hmac-sha256: the configured header (`default_header` when the config names none, as
    a preset does) with the prefix and encoding; bearer: the configured header (`Authorization: Bearer <token>`
    by default); none: no header.
    """
    if isinstance(verify, StandardWebhooksVerify):
        return standard_webhooks_headers(verify.secrets[0], body, msg_id=delivery_id, timestamp=timestamp)
    if isinstance(verify, HmacSha256Verify):
        header = verify.header or default_header
        if header is None:
            raise ValueError("hmac-sha256: no signature header configured")
        return {
            header: hmac_sha256_signature(
                verify.secrets[0], body, prefix=verify.prefix, encoding=verify.encoding
            )
        }
    if isinstance(verify, BearerVerify):
        token = verify.tokens[0]
        return {verify.header: f"Bearer {token}" if verify.header.lower() == "authorization" else token}
    return {}
