"""The chatwright command: help with examples, check, emit, dead-letters and replay, and errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from framework.cli import main
from framework.store.sqlite import SQLiteStore
from tests.framework.cli_helpers import PLUGIN, dead_letter
from tests.framework.cli_helpers import bot as bot


@pytest.mark.parametrize(
    "command", ["run", "check", "emit", "dead-letters", "replay", "emulate", "demo", "send-sample"]
)
def test_every_command_explains_itself_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "example:" in text and f"chatwright {command}" in text


def test_check_lists_handlers_schedules_and_adapters(bot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(bot)]) == 0
    out = capsys.readouterr().out
    assert "chat (roostedhr): create_chat" in out
    assert "on ok.thing -> clitest.fine" in out
    assert "daily: next fire 20" in out
    assert "all good" in out


def test_check_warns_about_a_webhook_nobody_handles(bot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bot.write_text(
        bot.read_text()
        + '[[webhooks]]\npath = "/hooks/x"\nevent = "nobody.listens"\nverify = { scheme = "bearer", tokens = ["t"] }\n'
    )
    assert main(["check", str(bot)]) == 0
    assert "warning: webhook /hooks/x turns requests into 'nobody.listens', which no handler listens to" in (
        capsys.readouterr().out
    )


def test_check_reports_a_plugin_needing_what_its_adapter_lacks(
    bot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (bot.parent / "cli_plugin_needs_delete.py").write_text(PLUGIN.replace('"create_chat"', '"delete_chat"'))
    bot.write_text(bot.read_text().replace('"cli_plugin"', '"cli_plugin_needs_delete"'))
    assert main(["check", str(bot)]) == 2
    assert "needs delete_chat on adapter 'chat', which roostedhr does not support" in capsys.readouterr().err


def test_config_errors_exit_2_naming_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bot.toml"
    path.write_text('[adapters.roosted]\nprovider = "roostedhr"\nbase_url = "http://x"\nworker_id = 1\n')
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"error: {path}: adapters.roosted.api_key: missing" in err
    assert "Traceback" not in err


def test_bad_cron_is_named_by_schedule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bot.toml"
    path.write_text('[[schedules]]\nid = "x"\ncron = "61 8 * * *"\nevent = "a"\n')
    assert main(["check", str(path)]) == 2
    assert f"{path}: schedules[0].cron" in capsys.readouterr().err


def test_a_plugin_that_fails_to_import_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_plugin.py").write_text("import does_not_exist\n")
    path = tmp_path / "bot.toml"
    path.write_text('[plugins]\nmodules = ["broken_plugin"]\nentry_points = false\n')
    monkeypatch.chdir(tmp_path)
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "plugins.modules[0]: plugin module 'broken_plugin' failed to import: ModuleNotFoundError" in err
    assert "Traceback" not in err


def test_emit_runs_the_event_and_what_it_emits(bot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emit", str(bot), "ok.thing", "--data", '{"n": 1}']) == 0
    out = capsys.readouterr().out
    assert "ok      clitest.fine" in out and "ok      clitest.followup" in out


def test_emit_keeps_scheduled_jobs_for_the_service(bot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from framework.schedules.service import ScheduleService

    assert main(["emit", str(bot), "plan.later"]) == 0
    url = f"sqlite:///{bot.parent / 'bot.db'}"

    async def jobs() -> list[str]:
        store = SQLiteStore(url)
        await store.open()
        service = ScheduleService(store, url)
        await service.start(paused=True)
        try:
            return [job.id for job in await service.list()]
        finally:
            await service.shutdown()
            await store.close()

    assert asyncio.run(jobs()) == ["later-1"]


def test_emit_exits_1_when_a_handler_fails(bot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emit", str(bot), "bad.thing"]) == 1
    assert "FAILED  clitest.broken: InvalidRequest" in capsys.readouterr().out


def test_emit_rejects_data_that_is_not_a_json_object(bot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emit", str(bot), "ok.thing", "--data", "[1, 2"]) == 2
    assert "--data: not valid JSON" in capsys.readouterr().err


def test_dead_letters_and_replay(bot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    event_id = asyncio.run(dead_letter(bot))
    assert main(["dead-letters", str(bot)]) == 0
    out = capsys.readouterr().out
    assert event_id in out and "InvalidRequest: name: too long" in out
    assert main(["replay", str(bot), event_id]) == 0
    assert f"re-queued {event_id}" in capsys.readouterr().out
    assert main(["dead-letters", str(bot)]) == 0
    assert "no dead letters" in capsys.readouterr().out
    assert main(["replay", str(bot), event_id]) == 1
    assert "no dead letter with id" in capsys.readouterr().err


def test_the_console_script_runs(bot: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "framework.cli", "check", str(bot)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_run_refuses_what_check_refuses_unless_told_not_to_check(
    bot: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plugin needing an adapter that is not configured, or an operation its provider lacks: `run` does not
    start (exit 2) and says what `check` says; `--no-check` starts anyway."""
    (bot.parent / "cli_plugin_needs_more.py").write_text(
        PLUGIN.replace('"create_chat"', '"delete_chat")\nplugin.requires("pager", "send_message"')
    )
    bot.write_text(bot.read_text().replace('"cli_plugin"', '"cli_plugin_needs_more"'))
    served: list[object] = []
    monkeypatch.setattr("framework.commands.web.run_app", lambda app, **kwargs: served.append(app))

    assert main(["check", str(bot)]) == 2
    checked = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(checked) == 2 and any("adapter 'pager', which is not configured" in line for line in checked)

    assert main(["run", str(bot), "--port", "0"]) == 2
    refused = capsys.readouterr().err.splitlines()
    assert refused[: len(checked)] == checked
    assert "--no-check" in refused[-1]
    assert served == []

    assert main(["run", str(bot), "--port", "0", "--no-check"]) == 0
    assert len(served) == 1
