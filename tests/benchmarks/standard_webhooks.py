"""The Standard Webhooks check every baseline server makes: the raw aiohttp one and the peers'
(opsdroid, Errbot).

Standard library only: the peers import it under their own virtual environment's Python, where neither the
project nor its dependencies are installed, so every side runs this same code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

__all__ = ["TOLERANCE", "key_of", "verify"]

TOLERANCE = 300.0
"""Seconds a `webhook-timestamp` may be away from now."""


def key_of(secret: str) -> bytes:
    """The HMAC key of a `whsec_...` secret."""
    return base64.b64decode(secret.removeprefix("whsec_"))


def verify(key: bytes, headers: Mapping[str, str], body: bytes) -> str | None:
    """Standard Webhooks, the same HMAC the service checks; returns the message id or None."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not stamp or not signatures or not stamp.isdigit():
        return None
    if abs(time.time() - int(stamp)) > TOLERANCE:
        return None
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode(), hashlib.sha256)
    mac.update(body)
    expected = mac.digest()
    for part in signatures.split():
        version, _, encoded = part.partition(",")
        if version == "v1" and hmac.compare_digest(expected, base64.b64decode(encoded)):
            return str(msg_id)
    return None
