"""What the adapters' read-backs (framework.chats.ReadBack) share: the `since` cut-off, how much to read."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

__all__ = ["MAX_ITEMS", "cutoff", "gave_up"]

MAX_ITEMS = 200
"""The most list items one read-back looks through; past them it answers "not found" and logs a warning."""

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


def gave_up(log: logging.Logger, provider: str, what: str, scanned: int) -> None:
    log.warning(
        "%s: read-back of %s stopped after %d list items without a match; answering not found",
        provider,
        what,
        scanned,
    )
