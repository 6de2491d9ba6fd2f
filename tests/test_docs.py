"""The first example of docs/testing.md runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_testing_guide_example_passes(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "testing.md").read_text()
    match = re.search(r"```python\n(from framework.testing import BotHarness\n.*?)```", text, re.S)
    assert match, "docs/testing.md lost its first example"
    (tmp_path / "test_guide_example.py").write_text(match.group(1))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(ROOT),
            str(tmp_path / "test_guide_example.py"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
