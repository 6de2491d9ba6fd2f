"""Every example is complete (plugin module, bot.toml, README) and its README's commands name what exists."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from framework.cli import build_parser
from framework.config import load_config
from framework.runtime import resolve_plugins
from tests.examples.helpers import EXAMPLE_NAMES, EXAMPLES, REPO, environment

SHELL_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)


def readme_commands(example: str) -> list[list[str]]:
    """The commands in the README's ```sh blocks, split as the shell would (comments dropped)."""
    text = (EXAMPLES / example / "README.md").read_text()
    commands = []
    for block in SHELL_BLOCK.findall(text):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(words)
    return commands


def subcommands() -> set[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return set(action.choices or {})


def test_every_example_is_listed() -> None:
    found = {path.parent.name for path in EXAMPLES.glob("*/bot.toml")}
    assert found == set(EXAMPLE_NAMES)


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_example_is_a_package_with_config_plugin_and_readme(example: str) -> None:
    folder = EXAMPLES / example
    for name in ("__init__.py", "bot.toml", "README.md"):
        assert (folder / name).is_file(), f"{folder / name} is missing"
    config = load_config(folder / "bot.toml", environ={})
    plugins, _ = resolve_plugins(config)
    assert plugins, f"{example}/bot.toml loads no plugin"
    assert all(module.startswith(f"examples.{example}.") for module in config.plugins.modules)
    assert config.plugins.entry_points is False


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_readme_commands_name_files_that_exist(example: str) -> None:
    commands = readme_commands(example)
    assert any(words[0] == "chatwright" for words in commands), f"{example}/README.md shows no command"
    known = subcommands()
    for words in commands:
        program, args = words[0], words[1:]
        assert program in ("chatwright", "python", "curl"), f"unexpected command {shlex.join(words)}"
        if program == "chatwright":
            assert args[0] in known, f"{shlex.join(words)}: no sub-command {args[0]!r}"
        if program == "python":
            assert args[0] == "-m" and importlib.util.find_spec(args[1]) is not None, shlex.join(words)
        for index, word in enumerate(args):
            if word.endswith((".toml", ".py", ".md")):
                assert (REPO / word).is_file(), f"{shlex.join(words)}: {word} does not exist"
            if re.fullmatch(r"examples(\.\w+)+:\w+", word):
                module, _, attribute = word.partition(":")
                assert hasattr(importlib.import_module(module), attribute), word
            if index and args[index - 1] == "--data":
                assert isinstance(json.loads(word), dict), f"{shlex.join(words)}: --data is not a JSON object"


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_readme_emits_events_a_handler_listens_to(example: str) -> None:
    for words in readme_commands(example):
        if words[:2] != ["chatwright", "emit"]:
            continue
        config, event_type = words[2], words[3]
        plugins, _ = resolve_plugins(load_config(REPO / config, environ={}))
        handlers = [h for p in plugins for h in p.handlers if h.matches_type(event_type)]
        assert handlers, f"{shlex.join(words)}: no handler listens to {event_type}"


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_console_script_checks_each_example_from_the_repository_root(example: str) -> None:
    """The READMEs say `chatwright ...`: the installed console script, whose sys.path[0] is its own folder."""
    script = Path(sys.executable).parent / "chatwright"
    result = subprocess.run(
        [str(script), "check", f"examples/{example}/bot.toml"],
        cwd=REPO,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
