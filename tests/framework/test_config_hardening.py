"""Config and plugin-loading errors a new user can act on: 'did you mean' for every unknown key, and import
errors that point at the user's file and line."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from framework import Plugin
from framework.config import load_config, make_converter
from framework.errors import ConfigError, PluginLoadError
from framework.loading import load_plugins, structure_plugin_configs


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


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))


def import_problem(directory: Path, source: str) -> str:
    name = f"user_plugin_{uuid.uuid4().hex}"
    (directory / f"{name}.py").write_text(source)
    with pytest.raises(PluginLoadError) as caught:
        load_plugins([name], use_entry_points=False)
    (problem,) = caught.value.problems
    assert "<frozen" not in problem
    return problem.replace(name, "NAME")


def test_an_exception_at_import_names_the_users_file_and_line(plugin_dir: Path) -> None:
    problem = import_problem(plugin_dir, 'import os\n\nraise RuntimeError("no token")\n')
    assert problem == (
        "plugins.modules[0]: plugin module 'NAME' failed to import: RuntimeError: no token"
        f" (at {plugin_dir}/NAME.py:3)"
    )


def test_a_syntax_error_names_the_users_file_line_and_code(plugin_dir: Path) -> None:
    problem = import_problem(plugin_dir, "x = 1\ndef f(:\n    pass\n")
    assert problem == (
        "plugins.modules[0]: plugin module 'NAME' failed to import: SyntaxError: invalid syntax"
        f" (at {plugin_dir}/NAME.py:2: def f(:)"
    )


def test_an_error_raised_in_a_library_still_names_the_users_line(plugin_dir: Path) -> None:
    problem = import_problem(plugin_dir, 'import json\n\nSETTINGS = json.loads("{nope")\n')
    assert f"(at {plugin_dir}/NAME.py:3, raised in " in problem
    assert "json/decoder.py:" in problem
