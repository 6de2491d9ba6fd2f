"""examples/stateful: counts per key and notifies once per key, with the state kept in the store."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import attrs
import pytest

from framework.config import load_config
from framework.events import new_event
from framework.store.factory import open_store
from framework.testing.pytest_plugin import BotFactory
from tests.examples.helpers import EXAMPLES, cli, copy_config

CONFIG = EXAMPLES / "stateful" / "bot.toml"


async def test_counts_every_alert_and_notifies_once(
    chatwright_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await chatwright_bot.from_config(CONFIG)

    with caplog.at_level(logging.INFO, logger="chatwright.plugin.alerts"):
        first = await bot.emit("alert.raised", {"key": "disk-full"})
        await bot.emit("alert.raised", {"key": "disk-full"})
        await bot.emit("alert.raised", {"key": "cpu"})
        await bot.emit("alert.raised", {"key": "disk-full"})

    assert await bot.state("alerts", "count:disk-full") == 3
    assert await bot.state("alerts", "count:cpu") == 1
    assert await bot.state("alerts", "open:disk-full") == first[0].outcome.event.id
    messages = [r.getMessage().split("] ", 1)[1] for r in caplog.records]
    assert messages == [
        "alert disk-full raised: notifying (in a real bot: post to a chat)",
        "alert disk-full again (2 in all); already notified",
        "alert cpu raised: notifying (in a real bot: post to a chat)",
        "alert disk-full again (3 in all); already notified",
    ]

    await bot.emit("alert.resolved", {"key": "disk-full"})
    assert await bot.state("alerts", "open:disk-full") is None


async def test_a_retried_event_is_not_counted_twice(chatwright_bot: BotFactory) -> None:
    bot = await chatwright_bot.from_config(CONFIG)
    assert bot.runtime is not None
    event = new_event("alert.raised", {"key": "disk-full"})

    await bot.runtime.dispatcher.dispatch(event)
    await bot.runtime.dispatcher.dispatch(attrs.evolve(event, attempt=2))  # a redelivery after a crash

    assert await bot.state("alerts", "count:disk-full") == 1


def test_state_persists_across_emit_processes(tmp_path: Path) -> None:
    config = copy_config("stateful", tmp_path)
    raised = ("emit", str(config), "alert.raised", "--data", '{"key": "disk-full"}')
    resolved = ("emit", str(config), "alert.resolved", "--data", '{"key": "disk-full"}')

    runs = [cli(*raised), cli(*raised), cli(*resolved)]

    assert [run.returncode for run in runs] == [0, 0, 0], [run.stderr for run in runs]
    assert "raised: notifying" in runs[0].stderr
    assert "again (2 in all); already notified" in runs[1].stderr
    assert (tmp_path / "stateful.db").exists()  # next to the config, as its relative URL says
    count, still_open = asyncio.run(read_state(config, "count:disk-full", "open:disk-full"))
    assert (count, still_open) == (2, None)


async def read_state(config: Path, *keys: str) -> list[Any]:
    store = open_store(load_config(config, environ={}).store.url)
    await store.open()
    try:
        return [await store.state_get("alerts", key) for key in keys]
    finally:
        await store.close()
