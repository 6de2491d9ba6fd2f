"""The main job: `chatwright demo` runs the four bots against the emulators, and its samples reach every provider."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bots.demo import BOTS, BOTS_DIR, all_samples, compose_config, demo_environment
from tests.conftest import wait_until

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "framework.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[tuple[int, int]]:
    port, emulator_port = free_port(), free_port()
    process = await asyncio.create_subprocess_exec(
        *CLI,
        "demo",
        "--port",
        str(port),
        "--emulator-port",
        str(emulator_port),
        "--data-dir",
        str(tmp_path / "data"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield port, emulator_port
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 30) == 0


async def test_samples_sent_to_the_demo_reach_every_provider(demo: tuple[int, int]) -> None:
    port, emulator_port = demo

    async def ready() -> bool:
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}/readyz") as answer,
            ):
                return answer.status == 200
        except aiohttp.ClientError:
            return False

    await wait_until(ready, timeout=30, interval=0.05)
    for name in ("shift.published", "match.created", "devrev.work_updated", "alarm.started"):
        sender = await asyncio.create_subprocess_exec(
            *CLI, "send-sample", name, "--url", f"http://127.0.0.1:{port}", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await sender.communicate()
        assert sender.returncode == 0, out
        assert b"-> 202" in out

    async def provider_calls(provider: str) -> list[dict[str, object]]:
        url = f"http://127.0.0.1:{emulator_port}/{provider}/_emulator/requests"
        async with aiohttp.ClientSession() as session, session.get(url) as answer:
            calls: list[dict[str, object]] = await answer.json()
            return calls

    expected = {
        "roostedhr": "/roostedhr/workers/3158/chats",
        "popsell": "/popsell/chat/chatrooms",
        "devrev": "/devrev/chats.create",
        "groupalarm": "/groupalarm/chatroom",
    }
    for provider, path in expected.items():

        async def created(provider: str = provider, path: str = path) -> bool:
            return any(
                call["method"] == "POST" and call["path"] == path for call in await provider_calls(provider)
            )

        await wait_until(created, timeout=15)
