"""A Redis that would lose what the store wrote (no append-only file, keys evicted under memory pressure) is named
in the log when the Redis store opens, with the setting to change; one set up as docs/scaling.md says is not."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from framework.events import new_event
from framework.store.factory import open_store
from framework.store.redis_durability import findings
from tests.framework.store_fixtures import private_redis

SAFE = {"appendonly": "yes", "appendfsync": "always", "maxmemory-policy": "noeviction"}


def warnings_of(settings: dict[str, str]) -> list[str]:
    return [text for level, text in findings(settings) if level >= logging.WARNING]


def test_the_settings_docs_scaling_asks_for_lose_nothing() -> None:
    assert findings(SAFE) == []


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        ({"appendonly": "no"}, "appendonly is no"),
        ({"appendfsync": "no"}, "appendfsync is no"),
        ({"maxmemory-policy": "allkeys-lru"}, "maxmemory-policy is allkeys-lru"),
        ({"maxmemory-policy": "volatile-ttl"}, "maxmemory-policy is volatile-ttl"),
    ],
)
def test_a_setting_that_loses_events_or_dedupe_keys_is_a_warning(changed: dict[str, str], named: str) -> None:
    (warning,) = warnings_of({**SAFE, **changed})
    assert warning.startswith(named)


def test_appendfsync_everysec_is_noted_not_warned_a_documented_trade_off() -> None:
    (finding,) = findings({**SAFE, "appendfsync": "everysec"})
    assert finding[0] == logging.INFO and "last second" in finding[1]


async def test_opening_on_a_redis_without_persistence_warns_with_what_to_set(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with private_redis(tmp_path, "--appendonly", "no", "--maxmemory-policy", "allkeys-lru") as server:
        store = open_store(f"{server.url}?prefix=durability")
        with caplog.at_level(logging.INFO, logger="chatwright.store"):
            await store.open()
        await store.close()
    warned = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warned) == 2, warned
    assert f"Redis at 127.0.0.1:{server.port}/0: appendonly is no" in warned[0]
    assert "set appendonly yes and appendfsync always" in warned[0]
    assert "maxmemory-policy is allkeys-lru" in warned[1] and "set noeviction" in warned[1]


async def test_opening_on_a_redis_set_up_as_documented_logs_nothing_about_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    options = ("--appendonly", "yes", "--appendfsync", "always", "--maxmemory-policy", "noeviction")
    with private_redis(tmp_path, *options) as server:
        store = open_store(f"{server.url}?prefix=durability")
        with caplog.at_level(logging.INFO, logger="chatwright.store"):
            await store.open()
        await store.close()
    assert not [record for record in caplog.records if "Redis at" in record.getMessage()]


async def test_a_redis_that_refuses_config_is_said_to_be_unchecked_and_the_store_opens(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # managed Redis services rename or disable CONFIG
    with private_redis(tmp_path, "--rename-command", "CONFIG", '""') as server:
        store = open_store(f"{server.url}?prefix=durability")
        with caplog.at_level(logging.INFO, logger="chatwright.store"):
            await store.open()
        try:
            assert not (await store.append(new_event("still.works", {}))).duplicate
        finally:
            await store.close()
    (said,) = [record for record in caplog.records if "Redis at" in record.getMessage()]
    assert said.levelno == logging.INFO
    assert "could not read its persistence settings" in said.getMessage()
    assert "appendonly yes, appendfsync always and maxmemory-policy noeviction" in said.getMessage()
