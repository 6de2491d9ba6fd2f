"""examples/hello: one handler, run with `chatwright emit` and with the testing kit."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from framework.testing.pytest_plugin import BotFactory
from tests.examples.helpers import EXAMPLES, cli, copy_config

CONFIG = EXAMPLES / "hello" / "bot.toml"


def test_emit_greets_by_name(tmp_path: Path) -> None:
    config = copy_config("hello", tmp_path)

    result = cli("emit", str(config), "greeting.requested", "--data", '{"name": "Ada"}')

    assert result.returncode == 0, result.stderr
    assert "ok      hello.greet" in result.stdout
    assert "Hello, Ada!" in result.stderr


def test_check_lists_the_handler() -> None:
    result = cli("check", str(CONFIG))

    assert result.returncode == 0, result.stderr
    assert "on greeting.requested -> hello.greet" in result.stdout


async def test_handler_logs_the_greeting(
    chatwright_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await chatwright_bot.from_config(CONFIG)

    with caplog.at_level(logging.INFO, logger="chatwright.plugin.hello"):
        outcomes = await bot.emit("greeting.requested", {"name": "Grace"})
        defaulted = await bot.emit("greeting.requested")

    assert [d.action for d in outcomes + defaulted] == ["done", "done"]
    assert outcomes[0].outcome.succeeded == ("hello.greet",)
    messages = [record.getMessage() for record in caplog.records]
    assert any(message.endswith("Hello, Grace!") for message in messages)
    assert any(message.endswith("Hello, world!") for message in messages)
