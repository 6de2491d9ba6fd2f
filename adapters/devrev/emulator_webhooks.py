"""The DevRev emulator's outgoing webhooks: every comment made on a DM is sent as a signed `timeline_entry_created`.

`POST /_emulator/webhook {url, secret}` sets where (an empty url stops them); `GET /_emulator/webhook` lists the
deliveries made. The body is DevRev's envelope `{id, webhook_id, timestamp, type, timeline_entry_created: {entry}}`
signed in `X-DevRev-Signature` (hex HMAC-SHA256 of the raw body keyed with the secret's bytes). A comment a
person writes (`POST /_emulator/messages`) is delivered before that request is answered, so a test knows the event
is in the inbox; a comment posted through the API (the bot's own) is delivered in the background, as DevRev does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
import attrs

__all__ = ["Delivery", "WebhookSender", "envelope", "sign"]

log = logging.getLogger("chatwright.emulator.devrev")

DELIVERY_TIMEOUT = 3.0
"""DevRev gives a webhook receiver 3 s."""


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def envelope(webhook_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "webhook_id": webhook_id,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "type": "timeline_entry_created",
        "timeline_entry_created": {"entry": entry},
    }


@attrs.frozen
class Delivery:
    entry_id: str
    status: int | None
    """The receiver's answer; None when it could not be reached."""


@attrs.define
class WebhookSender:
    """Where the emulator's webhooks go, and the deliveries made so far."""

    url: str | None = None
    secret: str = attrs.field(default="", repr=False)
    webhook_id: str = "don:integration:dvrv-us-1:devo/0:webhook/1"
    deliveries: list[Delivery] = attrs.field(factory=list)
    _session: aiohttp.ClientSession | None = None
    _pending: set[asyncio.Task[Any]] = attrs.field(factory=set)

    def configure(self, url: str | None, secret: str) -> None:
        self.url = url or None
        self.secret = secret

    async def send(self, entry: dict[str, Any]) -> Delivery | None:
        """Deliver one entry now; None when no webhook is configured."""
        if self.url is None:
            return None
        body = json.dumps(envelope(self.webhook_id, entry)).encode()
        headers = {"Content-Type": "application/json", "X-DevRev-Signature": sign(self.secret, body)}
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT))
        try:
            async with self._session.post(self.url, data=body, headers=headers) as response:
                await response.read()
                delivery = Delivery(entry["id"], response.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            log.info("devrev emulator: webhook to %s failed: %s", self.url, error)
            delivery = Delivery(entry["id"], None)
        self.deliveries.append(delivery)
        return delivery

    def send_later(self, entry: dict[str, Any]) -> None:
        if self.url is None:
            return
        task = asyncio.get_running_loop().create_task(self.send(entry))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def reset(self) -> None:
        self.url = None
        self.secret = ""
        self.deliveries.clear()
