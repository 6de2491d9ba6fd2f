"""The chatwright command, hardened: --version, --debug after the command, check saying each problem once,
and the read-only commands (dead-letters, replay, check) creating nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.cli import main
from tests.framework.test_cli import PLUGIN, _dead_letter, bot  # noqa: F401 - the `bot` fixture


def test_check_reports_a_missing_adapter_once_and_never_says_ok(
    bot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Three operations needed from one adapter that is not configured: one problem, said once.
    (bot.parent / "cli_plugin_needs_missing.py").write_text(
        PLUGIN.replace(
            'plugin.requires("chat", "create_chat")',
            'plugin.requires("gone", "create_chat", "post_message", "rename_chat")',
        )
    )
    bot.write_text(bot.read_text().replace('"cli_plugin"', '"cli_plugin_needs_missing"'))
    assert main(["check", str(bot)]) == 2
    out, err = capsys.readouterr()
    problem = "error: plugin clitest needs adapter 'gone', which is not configured"
    assert err.count(problem) == 1, err
    assert "OK" not in out and "all good" not in out


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"chatwright {version('chatwright')}"


@pytest.mark.parametrize(
    ("argv", "debug"),
    [
        (["--debug", "check", "bot.toml"], True),
        (["check", "bot.toml", "--debug"], True),
        (["check", "--debug", "bot.toml"], True),
        (["check", "bot.toml"], False),
        (["run", "bot.toml", "--port", "9000", "--debug"], True),
    ],
)
def test_debug_is_accepted_before_and_after_the_command(argv: list[str], debug: bool) -> None:
    from framework.cli import build_parser

    assert build_parser().parse_args(argv).debug is debug


def test_debug_after_the_command_shows_the_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from framework import commands

    def boom(_: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(commands, "check", boom)
    assert main(["check", "bot.toml"]) == 1
    assert "run with --debug for details" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="boom"):
        main(["check", "bot.toml", "--debug"])


def _files(directory: Path) -> set[Path]:
    return {path for path in directory.rglob("*") if "__pycache__" not in path.parts}


@pytest.mark.parametrize("command", [["dead-letters"], ["dead-letters", "--json"], ["replay", "--", "ev-1"]])
def test_dead_letters_and_replay_refuse_a_store_that_does_not_exist_and_create_none(
    bot: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = _files(bot.parent)
    name, *rest = command
    assert main([name, str(bot), *rest]) == 1
    err = capsys.readouterr().err
    assert f"no store at {bot.parent / 'bot.db'}" in err
    assert _files(bot.parent) == before


def test_check_creates_nothing(bot: Path) -> None:
    before = _files(bot.parent)
    assert main(["check", str(bot)]) == 0
    assert _files(bot.parent) == before


def test_dead_letters_and_replay_take_a_store_url_instead_of_a_config(
    bot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    event_id = asyncio.run(_dead_letter(bot))
    url = f"sqlite:///{bot.parent / 'bot.db'}"
    assert main(["dead-letters", url]) == 0
    assert event_id in capsys.readouterr().out
    assert main(["replay", url, event_id]) == 0
    assert f"re-queued {event_id}" in capsys.readouterr().out
    missing = bot.parent / "elsewhere" / "none.db"
    assert main(["dead-letters", f"sqlite:///{missing}"]) == 1
    assert f"no store at {missing}" in capsys.readouterr().err
    assert not missing.parent.exists()
