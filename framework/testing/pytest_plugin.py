"""The testing kit as a pytest plugin (registered under `pytest11`): the `chatwright_bot` fixture.

```python
async def test_greets(chatwright_bot):
    bot = await chatwright_bot.from_plugins(plugin, providers={"chat": RecordingProvider()})
    await bot.emit("user.joined", {"name": "Ada"})
```
Every bot the fixture starts is closed at the end of the test.

pytest loads this module in every environment chatwright is installed in, so it must be harmless where nobody
uses it: it imports neither the harness nor pytest-asyncio up front, and without pytest-asyncio (the `testing`
extra, `pip install 'chatwright[testing]'`) the fixture only fails the test that asks for it, saying what to
install. With pytest-asyncio, an `async def` test that takes `chatwright_bot` is run on asyncio with no pytest
settings (no `asyncio_mode = "auto"` needed): the plugin gives it pytest-asyncio's `asyncio` mark.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from framework.plugins import Plugin
    from framework.testing.harness import BotHarness

__all__ = ["FIXTURE", "MISSING_ASYNCIO", "BotFactory"]

FIXTURE = "chatwright_bot"
MISSING_ASYNCIO = (
    "the chatwright_bot fixture needs pytest-asyncio, which is not installed: "
    "pip install 'chatwright[testing]'"
)


class BotFactory:
    """Starts BotHarness instances for one test and closes them afterwards."""

    def __init__(self) -> None:
        self.started: list[BotHarness] = []

    async def from_config(self, path: str | Path, **kwargs: Any) -> BotHarness:
        from framework.testing.harness import BotHarness

        return await self.start(BotHarness.from_config(path, **kwargs))

    async def from_plugins(self, *plugins: Plugin, **kwargs: Any) -> BotHarness:
        from framework.testing.harness import BotHarness

        return await self.start(BotHarness.from_plugins(*plugins, **kwargs))

    async def start(self, bot: BotHarness) -> BotHarness:
        """Start a harness built by hand (e.g. from an edited Config) and close it after the test."""
        await bot.start()
        self.started.append(bot)
        return bot

    async def close(self) -> None:
        for bot in reversed(self.started):
            await bot.close()


try:
    import pytest_asyncio
except ImportError:  # the `testing` extra is not installed
    pytest_asyncio = None  # type: ignore[assignment]

if pytest_asyncio is not None:

    @pytest_asyncio.fixture(name=FIXTURE)
    async def chatwright_bot() -> AsyncIterator[BotFactory]:
        """A factory for running bots in a test: `await chatwright_bot.from_config("bot.toml")`."""
        factory = BotFactory()
        try:
            yield factory
        finally:
            await factory.close()

else:

    @pytest.fixture(name=FIXTURE)
    def _chatwright_bot_without_pytest_asyncio() -> BotFactory:
        """Stands in for the fixture where pytest-asyncio is missing: fails the test that uses it, saying why."""
        pytest.fail(MISSING_ASYNCIO, pytrace=False)


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_pycollect_makeitem(
    collector: pytest.Collector, name: str, obj: object
) -> Generator[None, Any, None]:
    """Marks `async def` tests that take `chatwright_bot` for pytest-asyncio, so strict mode runs them too.

    trylast makes this the innermost wrapper: it sees the new items before pytest-asyncio's wrapper turns the
    marked ones into asyncio test items.
    """
    outcome = yield
    if pytest_asyncio is None or not inspect.iscoroutinefunction(obj):
        return
    result = outcome.get_result()
    for item in result if isinstance(result, list) else [result]:
        if (
            isinstance(item, pytest.Function)
            and FIXTURE in item.fixturenames
            and item.get_closest_marker("asyncio") is None
        ):
            item.add_marker("asyncio")
