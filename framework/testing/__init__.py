"""The testing kit for plugin authors: run a bot against emulators or recording fakes and inspect what it did."""

from framework.testing.fakes import ProviderCall, RecordingProvider
from framework.testing.harness import BotHarness
from framework.testing.signing import (
    hmac_sha256_signature,
    signature_headers,
    standard_webhooks_headers,
)
from framework.testing.waiting import wait_until

__all__ = [
    "BotHarness",
    "ProviderCall",
    "RecordingProvider",
    "hmac_sha256_signature",
    "signature_headers",
    "standard_webhooks_headers",
    "wait_until",
]
