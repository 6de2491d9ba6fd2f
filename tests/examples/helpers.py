"""Running the examples as a user does: the CLI in a subprocess from the repository root, on free ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.conftest import wait_until_sync
from tests.framework.process_helpers import stop

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
EXAMPLE_NAMES = ("hello", "webhook_to_message", "cron_reminder", "custom_adapter", "typed_config", "stateful")

# Variables the examples read with `${NAME:-default}`; removed so a developer's shell cannot change a test.
EXAMPLE_VARIABLES = (
    "ROOSTED_BASE_URL",
    "ROOSTED_API_KEY",
    "ANNOUNCE_HOOK_SECRET",
    "PIGEON_BASE_URL",
    "PIGEON_TOKEN",
)


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in EXAMPLE_VARIABLES}
    return {**env, **(extra or {})}


def command(*args: str) -> list[str]:
    """`chatwright ARGS` as this interpreter runs it (the console script is the same `framework.cli:main`)."""
    return [sys.executable, "-m", "framework.cli", *args]


def cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `chatwright ARGS` from the repository root, as the READMEs say, and capture its output."""
    return subprocess.run(
        command(*args), cwd=REPO, env=environment(env), capture_output=True, text=True, timeout=timeout
    )


def python(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=environment(env), capture_output=True, text=True, timeout=60
    )


def copy_config(example: str, into: Path, name: str = "bot.toml") -> Path:
    """The example's config file copied unchanged into `into`, so the SQLite store it names (relative to the
    file) is created there and not in the repository."""
    target = into / name
    shutil.copyfile(EXAMPLES / example / name, target)
    return target


def http_status(url: str, headers: Mapping[str, str] | None = None) -> int | None:
    """The status of GET `url`, or None when nothing answers yet."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=dict(headers or {})), timeout=2) as r:
            return int(r.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


@contextlib.contextmanager
def serving(
    args: list[str], ready_url: str, log: Path, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A long-running `chatwright` command (run, emulate), up once `ready_url` answers 200, its output going
    to `log`; stopped with SIGTERM at the end, as systemd would stop it."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command(*args), cwd=REPO, env=environment(env), stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_until_sync(lambda: process.poll() is not None or http_status(ready_url) == 200, timeout=20)
        if process.poll() is not None:
            raise AssertionError(f"{' '.join(args)} exited with {process.returncode}:\n{log.read_text()}")
        yield process
    finally:
        if process.poll() is None:
            stop(process, timeout=15)
