"""The first example of docs/testing.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT, assert_pytest_passes


def test_the_testing_guide_example_passes(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "testing.md").read_text()
    match = re.search(r"```python\n(from framework.testing import BotHarness\n.*?)```", text, re.S)
    assert match, "docs/testing.md lost its first example"
    (tmp_path / "test_guide_example.py").write_text(match.group(1))
    assert_pytest_passes(tmp_path / "test_guide_example.py", rootdir=ROOT, cwd=ROOT)


def test_the_testing_guide_settings_run_its_example_without_warnings(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    text = (ROOT / "docs" / "testing.md").read_text()
    settings = re.search(r"```toml\n# pyproject.toml\n(.*?)```", text, re.S)
    example = re.search(r"```python\n(from framework.testing import BotHarness\n.*?)```", text, re.S)
    assert settings and example, "docs/testing.md lost its pytest settings or its first example"
    (tmp_path / "pyproject.toml").write_text(settings.group(1))
    (tmp_path / "test_guide_example.py").write_text(example.group(1))
    (tmp_path / "bots").symlink_to(ROOT / "bots")  # the example's config path is relative to the project
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_guide_example.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_no_page_shows_the_duplicate_answer_without_its_event_id() -> None:
    # The service answers a duplicate delivery 200 {"event_id": ..., "duplicate": true}.
    pages = [
        *ROOT.glob("*.md"),
        *ROOT.glob("docs/**/*.md"),
        *ROOT.glob("bots/**/*.md"),
        *ROOT.glob("examples/**/*.md"),
    ]
    wrong = [str(page.relative_to(ROOT)) for page in pages if '{"duplicate": true}' in page.read_text()]
    assert wrong == []


def test_the_plugins_guide_says_what_ctx_schedule_does_under_emit() -> None:
    # tests/framework/test_cli.py::test_emit_keeps_scheduled_jobs_for_the_service: emit stores the jobs.
    from framework.cli import EPILOG

    guide = " ".join((ROOT / "docs" / "plugins.md").read_text().split())
    assert "schedules are not available here" not in guide
    assert (
        "under `emit` nothing fires, and the jobs are stored in the config's `[store]` for `chatwright run` to fire"
        in guide
    )
    assert "jobs they schedule are stored for `chatwright run` to fire" in " ".join(EPILOG["emit"].split())


def test_the_conversations_guide_example_passes(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "conversations.md").read_text()
    match = re.search(r"```python\n(from framework import Context, Event, Plugin\n.*?)```", text, re.S)
    assert match, "docs/conversations.md lost its example"
    (tmp_path / "test_swaps.py").write_text(match.group(1))
    assert_pytest_passes(tmp_path / "test_swaps.py", rootdir=ROOT, cwd=ROOT)


def test_the_conversations_guide_configs_load_and_the_plugins_guide_snippet_registers(tmp_path: Path) -> None:
    import tomllib

    from framework import Context, Event, Plugin
    from framework.config import config_from_dict

    text = (ROOT / "docs" / "conversations.md").read_text()
    tables = [tomllib.loads(block) for block in re.findall(r"```toml\n(.*?)```", text, re.S)]
    push, poll = tables
    raw = {**push, **poll, "adapters": {**push["adapters"], "roosted": ROOSTED_TABLE}}
    env = {"DEVREV_TOKEN": "t", "DEVREV_BOT_USER_ID": "DEVU-1", "DEVREV_WEBHOOK_SECRET": "s"}
    config = config_from_dict(raw, tmp_path / "bot.toml", "bot.toml", env)
    assert config.webhooks[0].adapter == "devrev" and config.conversations.watch == {
        "roosted": ("yJjarB5xUW",)
    }

    guide = (ROOT / "docs" / "plugins.md").read_text()
    snippet = re.search(r"## Conversations.*?```python\n(.*?)```", guide, re.S)
    assert snippet, "docs/plugins.md lost its conversations snippet"
    plugin = Plugin("shiftchat")
    exec(snippet.group(1), {"plugin": plugin, "Event": Event, "Context": Context})
    assert [(h.pattern, h.command.name if h.command else None) for h in plugin.handlers] == [
        ("chat.message", "when"),
        ("chat.message", None),
    ]


ROOSTED_TABLE = {"provider": "roostedhr", "base_url": "http://127.0.0.1:1", "api_key": "k", "worker_id": "1"}


def test_every_module_the_architecture_page_names_exists() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`((?:framework|adapters)/[\w/<>]*?\.py)`", text))
    assert len(named) >= 20, "docs/architecture.md lost its module table"
    providers = [path.name for path in (ROOT / "adapters").iterdir() if (path / "provider.py").exists()]
    missing = [
        path
        for path in sorted(named)
        for provider in (providers if "<provider>" in path else [""])
        if not (ROOT / path.replace("<provider>", provider)).exists()
    ]
    assert missing == []


def test_the_architecture_page_names_the_checks_pyproject_holds() -> None:
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    text = (ROOT / "docs" / "architecture.md").read_text()
    assert {contract["type"] for contract in contracts} == {"layers", "forbidden", "acyclic_siblings"}
    assert all(f"`{kind}`" in text for kind in ("layers", "forbidden", "acyclic_siblings"))
