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
