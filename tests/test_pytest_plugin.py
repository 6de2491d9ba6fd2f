"""The pytest plugin that chatwright installs (pytest11): harmless where nobody uses it, and enough on its own.

pytest loads it in every environment chatwright is installed in, with or without the `testing` extra and with
whatever pytest settings the project has (or none).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from framework.testing.pytest_plugin import MISSING_ASYNCIO
from tests.conftest import ROOT, tutorial_files

pytestmark = pytest.mark.slow

USES_THE_FIXTURE = """
def test_plain() -> None:
    assert 1 + 1 == 2


async def test_with_a_bot(chatwright_bot) -> None:
    await chatwright_bot.from_plugins()
"""


def pytest_in(
    directory: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """pytest as a user runs it in their own project: its rootdir, its (empty) settings, no repository conftest."""
    (directory / "pytest.ini").write_text("[pytest]\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def test_without_pytest_asyncio_only_the_test_using_the_fixture_fails_and_says_why(tmp_path: Path) -> None:
    # An environment without the `testing` extra: pytest_asyncio cannot be imported.
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "pytest_asyncio.py").write_text("raise ImportError(\"No module named 'pytest_asyncio'\")\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_mine.py").write_text(USES_THE_FIXTURE)
    result = pytest_in(
        project,
        "-p",
        "framework.testing.pytest_plugin",
        "-rA",
        env={"PYTHONPATH": f"{shadow}{os.pathsep}{ROOT}", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    out = result.stdout + result.stderr
    assert "No module named 'pytest_asyncio'" not in out, out
    assert "PASSED test_mine.py::test_plain" in out, out
    assert "1 passed, 1 error" in out, out
    assert MISSING_ASYNCIO in out, out


def test_the_tutorial_test_passes_with_no_pytest_settings(tmp_path: Path) -> None:
    # Outside the repository: no asyncio_mode = "auto" (pytest-asyncio is in its default, strict mode).
    for name, text in tutorial_files().items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    result = pytest_in(tmp_path, "mybot/test_plugin.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_an_explicit_asyncio_mark_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "test_marked.py").write_text(
        "import pytest\n\n\n@pytest.mark.asyncio\n" + USES_THE_FIXTURE.split("\n\n\n", 1)[1]
    )
    result = pytest_in(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
