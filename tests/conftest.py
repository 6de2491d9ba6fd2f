"""Shared test helpers: waiting on conditions (never on fixed sleeps), service availability, the README's tutorial
files, and running a documented test file through pytest as a reader would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from framework.testing.waiting import wait_until as kit_wait_until


async def wait_until(
    condition: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0, interval: float = 0.01
) -> None:
    """Poll `condition` until it is true; fail the test after `timeout` seconds."""
    try:
        await kit_wait_until(condition, timeout, interval)
    except TimeoutError as error:
        pytest.fail(str(error))


def pytest_configure(config: pytest.Config) -> None:
    # CPython before 3.11.8 can raise SystemError("AST constructor recursion depth mismatch") when pytest parses
    # a test's source to show its failure while another thread runs (the SQLite writer; gh-106905), and pytest
    # then ends the whole run with INTERNALERROR after the first failures. Native tracebacks parse no source.
    if (3, 11) <= sys.version_info < (3, 11, 8) and config.option.tbstyle == "auto":
        config.option.tbstyle = "native"


def wait_until_sync(condition: Callable[[], bool], timeout: float = 20.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(interval)


def require_service(name: str, available: bool, reason: str) -> None:
    """Skip locally when a service is down, but fail under CI=true, where it must be there."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is required under CI but is not reachable: {reason}")
    pytest.skip(f"{name} not reachable: {reason}")


ROOT = Path(__file__).resolve().parent.parent


def tutorial_files() -> dict[str, str]:
    """The files the README's five-minute tutorial has a reader create, by path (`mybot/plugin.py`, ...)."""
    readme = (ROOT / "README.md").read_text()
    return dict(re.findall(r"<!-- tutorial-file: (\S+) -->\n```\w*\n(.*?)```", readme, re.S))


def assert_pytest_passes(test_file: str | Path, *, rootdir: Path, cwd: Path) -> None:
    """Run one test file in a fresh pytest (the project's settings) and require its single test to pass."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(rootdir),
            str(test_file),
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Say where the admin console's browser tests left their screenshots (in pytest's temporary directory;
    under xdist in each worker's)."""
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None or os.environ.get("CHATWRIGHT_SCREENSHOTS"):
        return
    for folder in sorted(factory.getbasetemp().glob("**/admin-console-screenshots*")):
        if not folder.is_symlink() and any(folder.iterdir()):
            terminalreporter.write_line(f"admin console screenshots: {folder}")
