"""The testing kit as a pytest plugin (registered under `pytest11`): the `chatwright_bot` fixture.

```python
async def test_greets(chatwright_bot):
    bot = await chatwright_bot.from_plugins(plugin, providers={"chat": RecordingProvider()})
    await bot.emit("user.joined", {"name": "Ada"})
```
Every bot the fixture starts is closed at the end of the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from framework.plugins import Plugin
from framework.testing.harness import BotHarness

__all__ = ["BotFactory", "chatwright_bot"]


class BotFactory:
    """Starts BotHarness instances for one test and closes them afterwards."""

    def __init__(self) -> None:
        self.started: list[BotHarness] = []

    async def from_config(self, path: str | Path, **kwargs: Any) -> BotHarness:
        return await self.start(BotHarness.from_config(path, **kwargs))

    async def from_plugins(self, *plugins: Plugin, **kwargs: Any) -> BotHarness:
        return await self.start(BotHarness.from_plugins(*plugins, **kwargs))

    async def start(self, bot: BotHarness) -> BotHarness:
        """Start a harness built by hand (e.g. from an edited Config) and close it after the test."""
        await bot.start()
        self.started.append(bot)
        return bot

    async def close(self) -> None:
        for bot in reversed(self.started):
            await bot.close()


@pytest_asyncio.fixture
async def chatwright_bot() -> AsyncIterator[BotFactory]:
    """A factory for running bots in a test: `await chatwright_bot.from_config("bot.toml")`."""
    factory = BotFactory()
    try:
        yield factory
    finally:
        await factory.close()
