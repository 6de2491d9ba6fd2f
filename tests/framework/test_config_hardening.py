"""Config and plugin-loading errors a new user can act on: 'did you mean' for every unknown key, and import
errors that point at the user's file and line."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from framework import Plugin
from framework.config import load_config, make_converter
from framework.errors import ConfigError
from framework.loading import structure_plugin_configs


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "bot.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    return [problem.removeprefix(f"{path}: ") for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[service]\nprot = 8080", "service: unknown key(s) prot; did you mean port?"),
        ('[store]\nulr = "sqlite:///x.db"', "store: unknown key(s) ulr; did you mean url?"),
        ("[retry]\nattempt = 3", "retry: unknown key(s) attempt; did you mean attempts?"),
        ('[plugins]\nmodule = ["x"]', "plugins: unknown key(s) module; did you mean modules?"),
        (
            '[adapters.chat]\nprovider = "roostedhr"\napi_key = "k"\nworker_id = 1\nbase_ulr = "http://x"',
            "adapters.chat: unknown key(s) base_ulr; did you mean base_url?",
        ),
        (
            '[[schedules]]\nid = "a"\ncronn = "0 8 * * *"\nevent = "x"',
            "schedules[0]: unknown key(s) cronn; did you mean cron?",
        ),
        (
            '[[webhooks]]\npath = "/h"\nevnt = "e"\nverify = { scheme = "none" }',
            "webhooks[0].evnt: unknown key; did you mean event? valid keys here: path, verify, event,",
        ),
        ("[plugin]", "unknown section(s) plugin (did you mean plugins?); expected service,"),
        ("[service]\nzzzz = 1", "service: unknown key(s) zzzz; valid here: host, port,"),
    ],
)
def test_every_unknown_key_gets_a_did_you_mean(tmp_path: Path, text: str, expected: str) -> None:
    found = problems_of(tmp_path, text)
    assert any(problem.startswith(expected) for problem in found), found


@attrs.frozen(kw_only=True)
class GreeterConfig:
    greeting: str = "hi"
    max_length: int = 80


def test_plugin_config_tables_get_a_did_you_mean() -> None:
    greeter = Plugin("greeter", config=GreeterConfig)
    settings = {"greeter": {"greting": "hello", "max_lenght": 3}, "greter": {}}
    _, problems = structure_plugin_configs([greeter], settings, make_converter(), "bot.toml")
    assert problems == [
        "bot.toml: plugins.greeter: unknown key(s) greting, max_lenght;"
        " did you mean greeting (for greting), max_length (for max_lenght)?",
        "bot.toml: plugins.greter: no loaded plugin is named 'greter'; did you mean [plugins.greeter]?",
    ]
