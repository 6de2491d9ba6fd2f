"""What the adapters' read-backs (framework.chats.ReadBack) share: the `since` cut-off, how much to read."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from framework.errors import Unsupported

__all__ = ["MAX_ITEMS", "cutoff", "undecided"]

MAX_ITEMS = 200
"""The most list items one read-back looks through; past them it cannot tell (see `undecided`)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def cutoff(since: datetime, resolution: timedelta = timedelta(0)) -> datetime:
    """`since` cut down to the provider's timestamp resolution, for `made >= cutoff(since)` comparisons.

    A provider that writes whole seconds stamps a chat made at 12:00:00.700 as 12:00:00; with `since` at
    12:00:00.500 that chat was still made at or after `since`, so whole ticks are compared.
    """
    if since.tzinfo is None:
        raise ValueError(f"since must be timezone-aware, got {since!r}")
    if not resolution:
        return since
    return since - (since - _EPOCH) % resolution


def undecided(log: logging.Logger, provider: str, operation: str, reason: str) -> Unsupported:
    """The error a read-back raises when its bounds ran out before it could tell; the caller raises it.

    Answering "not found" would have the step journal perform the step again without a word; `Unsupported`
    leaves it to the adapter's in-doubt policy (repeat, or fail for an operator), and the log says why.
    """
    log.warning("%s: %s cannot tell whether the step took effect: %s", provider, operation, reason)
    return Unsupported(provider, operation, reason)
