"""The main job: `chatwright demo` runs the four bots against the emulators, and its samples reach every provider."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bots.demo import BOTS, BOTS_DIR, STORE_FILE, all_samples, compose_config, demo_environment, prepare_store
from tests.conftest import wait_until
from tests.framework.process_helpers import ready
from tests.ports import free_port

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "framework.cli"]


def test_the_four_bots_compose_into_one_config(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/demo.db"
    env = demo_environment(8090, url, {})
    config = compose_config(
        [BOTS_DIR / bot / "bot.toml" for bot in BOTS], port=8080, store_url=url, environ=env
    )
    assert sorted(config.adapters) == ["devrev", "groupalarm", "popsell", "roosted"]
    assert sorted(route.path for route in config.webhooks) == [
        "/hooks/ambassador",
        "/hooks/escalation",
        "/hooks/eventrooms",
        "/hooks/shiftchat",
    ]
    assert config.adapters["roosted"].base_url == "http://127.0.0.1:8090/roostedhr"


def test_every_bot_has_samples() -> None:
    paths = {sample.path for sample in all_samples().values()}
    assert paths == {f"/hooks/{bot}" for bot in BOTS}


@contextlib.asynccontextmanager
async def running_demo(data_dir: Path, *options: str) -> AsyncIterator[tuple[int, int]]:
    """`chatwright demo` on free ports, ready to serve."""
    port, emulator_port = free_port(), free_port()
    process = await asyncio.create_subprocess_exec(
        *CLI,
        "demo",
        "--port",
        str(port),
        "--emulator-port",
        str(emulator_port),
        "--data-dir",
        str(data_dir),
        *options,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_until(lambda: ready(port), timeout=30, interval=0.05)
        yield port, emulator_port
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 30) == 0


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[tuple[int, int]]:
    async with running_demo(tmp_path / "data") as ports:
        yield ports


async def send(name: str, port: int) -> None:
    sender = await asyncio.create_subprocess_exec(
        *CLI, "send-sample", name, "--url", f"http://127.0.0.1:{port}", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await sender.communicate()
    assert sender.returncode == 0, out
    assert b"-> 202" in out


async def provider_calls(emulator_port: int, provider: str) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{emulator_port}/{provider}/_emulator/requests"
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        calls: list[dict[str, object]] = await answer.json()
        return calls


async def dead_letters(port: int) -> list[object]:
    url = f"http://127.0.0.1:{port}/admin/api/dead-letters"
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        assert answer.status == 200
        letters: list[object] = await answer.json()
        return letters


async def test_samples_sent_to_the_demo_reach_every_provider(demo: tuple[int, int]) -> None:
    port, emulator_port = demo
    for name in ("shift.published", "match.created", "devrev.work_updated", "alarm.started"):
        await send(name, port)

    expected = {
        "roostedhr": "/roostedhr/workers/3158/chats",
        "popsell": "/popsell/chat/chatrooms",
        "devrev": "/devrev/chats.create",
        "groupalarm": "/groupalarm/chatroom",
    }
    for provider, path in expected.items():

        async def created(provider: str = provider, path: str = path) -> bool:
            return any(
                call["method"] == "POST" and call["path"] == path
                for call in await provider_calls(emulator_port, provider)
            )

        await wait_until(created, timeout=15)


async def test_a_second_start_works_like_the_first(tmp_path: Path) -> None:
    # The emulators start empty every time: so must the demo's store, or the second start's bots act on chats
    # the new emulators never had (a shift's update PATCHes a missing chat; a match already handled is skipped).
    data = tmp_path / "data"
    for start in (1, 2):
        async with running_demo(data) as (port, emulator_port):
            await send("shift.published", port)
            await send("match.created", port)

            async def acted(emulator_port: int = emulator_port) -> bool:
                roosted = await provider_calls(emulator_port, "roostedhr")
                popsell = await provider_calls(emulator_port, "popsell")
                return any(
                    call["method"] == "POST" and call["path"] == "/roostedhr/workers/3158/chats"
                    for call in roosted
                ) and any(
                    call["method"] == "POST" and call["path"] == "/popsell/chat/chatrooms" for call in popsell
                )

            await wait_until(acted, timeout=15)
            assert await dead_letters(port) == [], f"start {start}"
            # The demo's store, as it prints it, is what the CLI reads.
            reader = await asyncio.create_subprocess_exec(
                *CLI,
                "dead-letters",
                f"sqlite:///{(data / STORE_FILE).resolve()}",
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await reader.communicate()
            assert reader.returncode == 0 and b"no dead letters" in out


def test_the_demo_prints_its_store_and_how_to_read_it() -> None:
    from bots.demo import _instructions

    text = _instructions(8080, 8090, "sqlite:////srv/x/.chatwright-demo/demo.db", kept=False)
    assert "chatwright dead-letters sqlite:////srv/x/.chatwright-demo/demo.db" in text
    assert "chatwright replay sqlite:////srv/x/.chatwright-demo/demo.db EVENT_ID" in text


def test_make_clean_removes_the_demos_data() -> None:
    from framework.cli import build_parser
    from tests.conftest import ROOT

    data_dir = build_parser().parse_args(["demo"]).data_dir
    clean = (ROOT / "Makefile").read_text().split("\nclean:", 1)[1]
    assert data_dir in clean.split("\n\n", 1)[0]


def test_the_store_starts_empty_unless_kept_and_nothing_else_is_removed(tmp_path: Path) -> None:
    store = tmp_path / STORE_FILE
    for name in (STORE_FILE, f"{STORE_FILE}-wal", f"{STORE_FILE}-shm", "notes.txt"):
        (tmp_path / name).write_text("x")
    assert prepare_store(tmp_path, keep=True) == f"sqlite:///{store}"
    assert store.exists() and (tmp_path / f"{STORE_FILE}-wal").exists()
    assert prepare_store(tmp_path) == f"sqlite:///{store}"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]
    assert prepare_store(tmp_path / "new" / "dir") == f"sqlite:///{tmp_path / 'new' / 'dir' / STORE_FILE}"
