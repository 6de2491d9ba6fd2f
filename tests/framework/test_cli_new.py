"""`chatwright new`: the scaffolded package's test passes in a fresh pytest, `chatwright check` accepts its
config, for each provider; and the roostedhr one runs as its README says (emulate, run, send)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from framework.cli import main
from framework.scaffold import render, templates
from tests.conftest import wait_until_sync
from tests.framework.process_helpers import CLI, stop
from tests.ports import free_port

pytestmark = pytest.mark.slow

_PYTEST_SCRIPT = Path(sys.executable).with_name("pytest")
PYTEST = [str(_PYTEST_SCRIPT)] if _PYTEST_SCRIPT.exists() else [sys.executable, "-m", "pytest"]
"""`pytest` as a user runs it (the script, which does not put the working directory on sys.path)."""


def chatwright(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("provider", list(templates()))
def test_the_scaffold_passes_its_test_and_check(provider: str, tmp_path: Path) -> None:
    name = f"my_{provider}"
    made = chatwright("new", name, "--provider", provider, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    package = tmp_path / name
    assert sorted(path.name for path in package.iterdir()) == [
        ".gitignore",
        "README.md",
        "__init__.py",
        "bot.toml",
        "plugin.py",
        "test_plugin.py",
    ]
    assert f'provider = "{provider}"' in (package / "bot.toml").read_text()
    readme = (package / "README.md").read_text()
    for command in (
        "chatwright emulate",
        f"chatwright run {name}/bot.toml",
        f"chatwright send {name}/bot.toml",
    ):
        assert command in readme

    tested = subprocess.run(
        [*PYTEST, "-q", "-p", "no:cacheprovider", f"{name}/test_plugin.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed" in tested.stdout

    checked = chatwright("check", f"{name}/bot.toml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "all good" in checked.stdout
    assert "warning" not in checked.stdout


def test_the_default_provider_is_roostedhr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["new", "mybot"]) == 0
    assert '[adapters.roosted]\nprovider = "roostedhr"' in (tmp_path / "mybot" / "bot.toml").read_text()
    assert 'modules = ["mybot.plugin"]' in (tmp_path / "mybot" / "bot.toml").read_text()


def test_the_providers_offered_are_the_installed_adapters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert list(templates()) == ["devrev", "groupalarm", "popsell", "roostedhr"]
    monkeypatch.chdir(tmp_path)
    assert main(["new", "mybot", "--provider", "slack"]) != 0
    assert (
        "unknown provider 'slack'; choose one of: devrev, groupalarm, popsell, roostedhr"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "mybot").exists()


def test_an_existing_directory_is_refused_unless_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    assert main(["new", "taken"]) == 2
    assert "already exists and is not an empty directory" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["notes.txt"]

    (tmp_path / "empty").mkdir()
    assert main(["new", "empty"]) == 0
    assert (tmp_path / "empty" / "plugin.py").is_file()


@pytest.mark.parametrize("name", ["my-bot", "2bots", "class"])
def test_a_name_that_is_no_package_name_is_refused(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["new", name]) == 2
    assert "is not a Python package name" in capsys.readouterr().err
    assert not (tmp_path / name).exists()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def test_the_scaffold_runs_as_its_readme_says(tmp_path: Path) -> None:
    assert chatwright("new", "mybot", cwd=tmp_path).returncode == 0
    emulator_port, service_port = free_port(), free_port()
    env = {**os.environ, "ROOSTED_BASE_URL": f"http://127.0.0.1:{emulator_port}/roostedhr"}
    emulator = subprocess.Popen(
        [*CLI, "emulate", "--port", str(emulator_port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    service = subprocess.Popen(
        [*CLI, "run", "mybot/bot.toml", "--port", str(service_port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_sync(lambda: answers(f"http://127.0.0.1:{emulator_port}/"), timeout=20)
        wait_until_sync(lambda: answers(f"http://127.0.0.1:{service_port}/readyz"), timeout=20)
        data = json.dumps({"name": "Ada", "members": ["120915"]})
        url = f"http://127.0.0.1:{service_port}"
        sent = chatwright(
            "send",
            "mybot/bot.toml",
            "/hooks/members",
            "--data",
            data,
            "--id",
            "m-1",
            "--url",
            url,
            cwd=tmp_path,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "-> 202" in sent.stdout

        def posted() -> bool:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{emulator_port}/roostedhr/_emulator/requests", timeout=1
            ) as response:
                requests = json.loads(response.read())
            return any(r["method"] == "POST" and r["path"].endswith("/messages") for r in requests)

        wait_until_sync(posted, timeout=20)
    finally:
        for process in (service, emulator):
            stop(process)
    # what the run wrote beside the scaffold (the store's files, Python's caches) stays out of the bot's repository
    bot = tmp_path / "mybot"
    assert (bot / "chatwright.db").exists()
    subprocess.run(["git", "init", "-q"], cwd=bot, check=True)
    untracked = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=bot,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    assert sorted(line.removeprefix("?? ") for line in untracked if line) == sorted(
        render("mybot", "roostedhr")
    )
