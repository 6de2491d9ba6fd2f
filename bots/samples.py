"""Sample webhook deliveries of the bots, signed the way each route verifies them (used by `chatwright send-sample`
and by the bots' tests)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from framework import jsoncodec
from framework.testing.signing import hmac_sha256_signature, standard_webhooks_headers

__all__ = ["SignedDelivery", "WebhookSample"]


@attrs.frozen
class SignedDelivery:
    """A ready-to-send delivery: the raw body and the headers that sign it."""

    path: str
    body: bytes
    headers: dict[str, str]


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
        if self.scheme == "standard-webhooks":
            headers = standard_webhooks_headers(
                self.secret, raw, msg_id=delivery_id or f"msg_{uuid.uuid4().hex}", timestamp=int(time.time())
            )
        elif self.scheme == "hmac-sha256":
            headers = {
                self.signature_header: hmac_sha256_signature(self.secret, raw, prefix=self.signature_prefix)
            }
        else:
            raise ValueError(f"sample {self.name}: unknown scheme {self.scheme!r}")
        return SignedDelivery(
            path=self.path, body=raw, headers={"Content-Type": "application/json", **headers}
        )
