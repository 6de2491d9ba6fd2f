"""Whether a Redis keeps what the store writes: its persistence and eviction settings, read once when it opens.

On Redis the store's promises (an event answered 202 is never lost, a delivery is never handled twice) hold only
when Redis writes every change to its append-only file before it answers, and never evicts keys to free memory
(docs/scaling.md, "Durability: configure Redis for it"). Redis's defaults do neither, and nothing fails when they
are left: after a restart the inbox is simply empty. So the store reads the settings when it opens and logs what a
restart, a power loss or memory pressure would take: a warning for each setting that loses accepted events or
dedupe keys, a note for `appendfsync everysec` (a documented trade-off). Managed services often refuse CONFIG; the
store then says that it could not check, and goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = ["SETTINGS", "Finding", "check_durability", "findings"]

log = logging.getLogger("chatwright.store")

SETTINGS = ("appendonly", "appendfsync", "maxmemory-policy")
"""The settings read (one CONFIG GET each: several names in one needs Redis 7)."""

Finding = tuple[int, str]
"""A logging level and what it says."""


def findings(settings: Mapping[str, str]) -> list[Finding]:
    """What these settings (CONFIG GET's names and values) would lose, most serious first; [] when nothing."""
    found: list[Finding] = []
    appendonly, appendfsync = settings.get("appendonly"), settings.get("appendfsync")
    if appendonly == "no":
        found.append(
            (
                logging.WARNING,
                "appendonly is no: a restart of Redis loses every accepted event, dedupe key, state and"
                " schedule since its last snapshot; set appendonly yes and appendfsync always",
            )
        )
    elif appendfsync == "no":
        found.append(
            (
                logging.WARNING,
                "appendfsync is no: the OS decides when writes reach the disk, so a power loss or OS crash can"
                " take back the last ~30 s of accepted events; set appendfsync always",
            )
        )
    elif appendfsync == "everysec":
        found.append(
            (
                logging.INFO,
                "appendfsync is everysec: a power loss or OS crash can take back about the last second of"
                " accepted events and dedupe keys; appendfsync always loses none",
            )
        )
    policy = settings.get("maxmemory-policy")
    if policy is not None and policy != "noeviction":
        found.append(
            (
                logging.WARNING,
                f"maxmemory-policy is {policy}: under memory pressure Redis drops keys (inbox events with"
                " allkeys-*, dedupe keys with volatile-*), which loses events or handles them twice; set"
                " noeviction",
            )
        )
    return found


async def check_durability(client: Redis, where: str) -> None:
    """Log what the settings of the Redis at `where` would lose (see `findings`)."""
    settings: dict[str, str] = {}
    try:
        for name in SETTINGS:
            # redis-py answers CONFIG GET with decoded text
            for key, value in (await client.config_get(name)).items():
                if key is not None and value is not None:
                    settings[key] = value
    except RedisError as error:
        found = [
            (
                logging.INFO,
                f"could not read its persistence settings ({error}); make sure it runs with appendonly yes,"
                " appendfsync always and maxmemory-policy noeviction",
            )
        ]
    else:
        found = findings(settings)
    for level, text in found:
        log.log(level, "Redis at %s: %s (docs/scaling.md)", where, text)
