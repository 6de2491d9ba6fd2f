"""chatwright as a user installs it: the built wheel in a fresh virtual environment, away from this checkout.

Builds the wheel from a copy of the sources (`pip wheel`, as `python -m build` would), installs it in a new
venv, and there runs `chatwright --version`, `chatwright check` on a bot of the wheel and on the README
tutorial's bot, a plain pytest run without the `testing` extra (the pytest11 plugin must not break it), and the
tutorial's test with `chatwright[testing]` and no pytest settings. pip reaches the package index as this
machine configures it; without an index the tests are skipped locally and fail under CI=true.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from tests.conftest import ROOT, require_service, tutorial_files

pytestmark = pytest.mark.slow

SOURCES = ("pyproject.toml", "README.md", "framework", "adapters", "bots")


@attrs.frozen
class Installed:
    venv: Path
    wheel: Path
    project: Path  # the tutorial's files, outside this checkout

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        # Not this checkout's modules: no PYTHONPATH, and a working directory outside it.
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
        return subprocess.run(
            args, cwd=self.project, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{' '.join(result.args)}\n{result.stdout}\n{result.stderr}"
    return result


def _index_reachable(scratch: Path) -> tuple[bool, str]:
    probe = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--dest",
            str(scratch),
            "pytest-asyncio>=0.24",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = probe.stderr.strip().splitlines()
    return probe.returncode == 0, lines[-1] if lines else "pip download failed"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    reachable, reason = _index_reachable(base / "probe")
    require_service("the package index (through pip)", reachable, reason)
    # Build from a copy: building in place would leave build/ and *.egg-info in the checkout.
    source = base / "src"
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(origin, source / name)
    dist = base / "dist"
    _ok(
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--quiet",
                "--wheel-dir",
                str(dist),
                str(source),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    )
    (wheel,) = dist.glob("chatwright-*.whl")
    venv = base / "venv"
    _ok(
        subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, check=False)
    )
    project = base / "project"
    for name, text in tutorial_files().items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    setup = Installed(venv, wheel, project)
    # The wheel without extras, and pytest as any project of the user's may have it.
    _ok(setup.run(setup.bin("pip"), "install", "--quiet", str(wheel), "pytest", timeout=300))
    yield setup


def test_version_is_the_wheels(installed: Installed) -> None:
    out = _ok(installed.run(installed.bin("chatwright"), "--version")).stdout
    assert out.strip() == "chatwright 0.1.0"


def test_check_passes_on_a_bot_shipped_in_the_wheel_and_on_the_tutorials(installed: Installed) -> None:
    site_bots = _ok(
        installed.run(installed.bin("python"), "-c", "import bots, os; print(os.path.dirname(bots.__file__))")
    ).stdout.strip()
    assert str(installed.venv) in site_bots  # the installed package, not this checkout
    for config in (f"{site_bots}/shiftchat/bot.toml", "mybot/bot.toml"):
        out = _ok(installed.run(installed.bin("chatwright"), "check", config)).stdout
        assert "all good" in out


def test_pytest_runs_without_the_testing_extra(installed: Installed) -> None:
    # The pytest11 plugin loads in every pytest run of this environment; without pytest-asyncio it must not
    # break the run ("No module named 'pytest_asyncio'").
    missing = installed.run(installed.bin("python"), "-c", "import pytest_asyncio")
    assert missing.returncode != 0, "this test needs an environment without pytest-asyncio"
    (installed.project / "test_plain.py").write_text("def test_plain() -> None:\n    assert True\n")
    try:
        result = installed.run(installed.bin("pytest"), "-p", "no:cacheprovider", "test_plain.py")
    finally:
        (installed.project / "test_plain.py").unlink()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_tutorials_test_passes_with_the_testing_extra(installed: Installed) -> None:
    _ok(installed.run(installed.bin("pip"), "install", "--quiet", f"{installed.wheel}[testing]", timeout=300))
    result = installed.run(installed.bin("pytest"), "-p", "no:cacheprovider", "mybot/test_plugin.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_admin_consoles_templates_are_in_the_wheel(installed: Installed) -> None:
    rendered = _ok(
        installed.run(
            installed.bin("python"),
            "-c",
            "from framework.admin.pages import new_environment;"
            " print(new_environment().get_template('events.html').name)",
        )
    ).stdout
    assert rendered.strip() == "events.html"
