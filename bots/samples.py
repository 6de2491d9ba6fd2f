"""Sample webhook deliveries of the bots, signed the way each route verifies them (used by `chatwright send-sample`
and by the bots' tests)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from framework import jsoncodec
from framework.sending import SignedDelivery
from framework.testing.signing import signature_headers
from framework.triggers.verify_config import HmacSha256Verify, StandardWebhooksVerify, VerifyConfig

__all__ = ["SignedDelivery", "WebhookSample"]


@attrs.frozen(kw_only=True)
class WebhookSample:
    """One sample delivery for a bot's webhook route.

    `body` builds the JSON body (called at send time so ids and times are fresh); `scheme` is how the route
    verifies it: "standard-webhooks" (secret `whsec_...`) or "hmac-sha256" (header `signature_header`, hex,
    with `signature_prefix`).
    """

    name: str
    description: str
    path: str
    body: Callable[[], dict[str, Any]]
    scheme: str
    secret: str
    signature_header: str = ""
    signature_prefix: str = ""

    def sign(
        self, body: Mapping[str, Any] | None = None, *, delivery_id: str | None = None
    ) -> SignedDelivery:
        """Serialise `body` (default: a fresh sample body) and sign it as the route expects."""
        raw = jsoncodec.dumps(dict(body) if body is not None else self.body())
        msg_id = delivery_id or f"msg_{uuid.uuid4().hex}"
        headers = signature_headers(self.verify_config(), raw, delivery_id=msg_id, timestamp=int(time.time()))
        return SignedDelivery(
            path=self.path,
            body=raw,
            headers={"Content-Type": "application/json", **headers},
            delivery_id=msg_id if self.scheme == "standard-webhooks" else None,
        )

    def verify_config(self) -> VerifyConfig:
        """The route's verify config this sample is signed for (as `chatwright send` signs any route)."""
        if self.scheme == "standard-webhooks":
            return StandardWebhooksVerify(secrets=(self.secret,))
        if self.scheme == "hmac-sha256":
            return HmacSha256Verify(
                secrets=(self.secret,), header=self.signature_header, prefix=self.signature_prefix
            )
        raise ValueError(f"sample {self.name}: unknown scheme {self.scheme!r}")
