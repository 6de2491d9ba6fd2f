"""examples/typed_config: `[plugins.welcome]` structured into WelcomeConfig; mistakes named by `chatwright check`."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from examples.typed_config.plugin import WelcomeConfig
from framework import ConfigError
from framework.config import load_config
from framework.runtime import resolve_plugins
from framework.testing.pytest_plugin import BotFactory
from tests.examples.helpers import EXAMPLES, cli

EXAMPLE = EXAMPLES / "typed_config"


async def test_handler_reads_its_typed_config(
    chatwright_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await chatwright_bot.from_config(EXAMPLE / "bot.toml")
    assert bot.runtime is not None
    assert bot.runtime.plugin_configs["welcome"] == WelcomeConfig(
        team="Kitchen", greeting="Hi", mentors=("Maria", "Tom")
    )

    with caplog.at_level(logging.INFO, logger="chatwright.plugin.welcome"):
        outcomes = await bot.emit("worker.hired", {"name": "Ada"})

    assert [d.action for d in outcomes] == ["done"]
    assert any(
        r.getMessage().endswith("Hi, Ada! You join the Kitchen team. Your mentors: Maria, Tom.")
        for r in caplog.records
    )


def test_check_names_each_mistake_as_the_readme_shows() -> None:
    result = cli("check", "examples/typed_config/bad.toml")

    assert result.returncode == 2
    errors = result.stderr.strip().splitlines()
    assert errors == [
        "error: examples/typed_config/bad.toml: plugins.welcome.max_length: expected an integer, got 'long'",
        "error: examples/typed_config/bad.toml: plugins.welcome: unknown key(s) greting; did you mean greeting?",
    ]
    readme = (EXAMPLE / "README.md").read_text()
    assert all(line in readme for line in errors)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('greeting = "Hi"', "plugins.welcome.team: missing"),
        ('team = "Kitchen"\nmax_length = 5', "plugins.welcome.max_length: must be >= 20: 5"),
    ],
)
def test_other_mistakes_the_readme_mentions(tmp_path: Path, table: str, problem: str) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(
        '[plugins]\nmodules = ["examples.typed_config.plugin"]\nentry_points = false\n'
        f"[plugins.welcome]\n{table}\n"
    )

    with pytest.raises(ConfigError) as raised:
        resolve_plugins(load_config(config, environ={}))

    assert raised.value.problems == (f"{config}: {problem}",)
    assert f"`{problem}`" in (EXAMPLE / "README.md").read_text()
