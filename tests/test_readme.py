"""The README's five-minute tutorial, followed literally: its files, its commands, its test."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from framework.adapter_registry import EmulatorOptions, find_adapter
from tests.conftest import ROOT, assert_pytest_passes, tutorial_files, wait_until
from tests.ports import free_port

README = (ROOT / "README.md").read_text()
CLI = [sys.executable, "-m", "framework.cli"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, text in tutorial_files().items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return tmp_path


@pytest.fixture
async def emulator_url() -> AsyncIterator[str]:
    server = TestServer(find_adapter("roostedhr").emulator(EmulatorOptions()), host="127.0.0.1")  # type: ignore[misc]
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def run(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Run the CLI without blocking the loop that serves the emulator."""
    process = await asyncio.create_subprocess_exec(
        *CLI, *args, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


def test_the_tutorial_has_its_three_files() -> None:
    assert set(tutorial_files()) == {"mybot/plugin.py", "mybot/bot.toml", "mybot/test_plugin.py"}


def test_the_two_commands_are_in_the_readme_and_the_makefile() -> None:
    assert "make run" in README and "make test" in README
    makefile = (ROOT / "Makefile").read_text()
    assert "chatwright demo" in makefile
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("make test")


async def test_check_and_emit_as_the_tutorial_says(project: Path, emulator_url: str) -> None:
    env = {**os.environ, "ROOSTED_BASE_URL": emulator_url}
    code, out, err = await run(["check", "mybot/bot.toml"], project, env)
    assert code == 0, err
    assert "on member.joined -> welcome.welcome" in out
    data = '{"name": "Ada", "worker_id": "120915"}'
    code, out, err = await run(["emit", "mybot/bot.toml", "member.joined", "--data", data], project, env)
    assert code == 0, err
    assert "ok      welcome.welcome" in out
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{emulator_url}/_emulator/requests") as response,
    ):
        sent = await response.json()
    assert [(r["method"], r["body"]) for r in sent] == [
        ("POST", {"name": "Welcome Ada", "members": ["120915"]}),
        ("POST", {"message": "Welcome aboard, Ada!"}),
    ]


async def test_the_service_answers_the_curl_of_the_tutorial(project: Path, emulator_url: str) -> None:
    port = free_port()
    env = {**os.environ, "ROOSTED_BASE_URL": emulator_url}
    process = await asyncio.create_subprocess_exec(
        *CLI,
        "run",
        "mybot/bot.toml",
        "--port",
        str(port),
        cwd=project,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        async def ready() -> bool:
            try:
                async with aiohttp.ClientSession() as session, session.get(f"{base}/readyz") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await wait_until(ready, timeout=20, interval=0.05)
        # docs/configuration.md (service.event_loop): the line run prints to stdout once it listens names the loop
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        assert re.fullmatch(
            rf"chatwright: serving mybot/bot.toml on http://127.0.0.1:{port} \((uvloop|asyncio)\)\n", line
        )
        configuration = (ROOT / "docs" / "configuration.md").read_text()
        assert (
            "in the line it prints to standard output once it listens, `chatwright: serving bot.toml on"
            in (configuration)
        )
        headers = {"Authorization": "Bearer let-me-in", "Content-Type": "application/json"}
        body = '{"id": "m-1", "name": "Ada", "worker_id": "120915"}'
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/hooks/members", data=body, headers=headers) as first:
                assert first.status == 202
                answer = await first.json()
                assert list(answer) == ["event_id"]
            async with session.post(f"{base}/hooks/members", data=body, headers=headers) as again:
                assert again.status == 200
                assert await again.json() == {"event_id": answer["event_id"], "duplicate": True}
            # ... which is what the README shows
            assert '`202 {"event_id": ...}`' in README
            assert '`200 {"event_id": ..., "duplicate": true}`' in README

            async def posted() -> bool:
                async with session.get(f"{emulator_url}/_emulator/requests") as response:
                    requests: list[dict[str, Any]] = await response.json()
                    return sum(1 for r in requests if str(r["path"]).endswith("/messages")) == 1

            await wait_until(posted, timeout=10)
        # the README's `chatwright send` line, at this service: the same delivery id as the curl, a duplicate
        (line,) = re.findall(r"^\.venv/bin/chatwright (send .*)$", README, re.M)
        code, out, err = await run([*shlex.split(line), "--url", base], project, os.environ.copy())
        assert code == 0, err
        assert "(delivery id m-1) -> 200" in out
        assert '"duplicate": true' in out
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 30) == 0


def test_the_tutorial_test_passes_as_written(project: Path) -> None:
    assert_pytest_passes("mybot/test_plugin.py", rootdir=project, cwd=project)
