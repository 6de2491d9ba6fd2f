"""Polled conversations in real `chatwright run` processes against the RoostedHR emulator: a person writes a
stream of messages while the service is killed with `kill -9` and restarted, or while two replicas share one
Redis; the bot echoes each message. Every message is answered exactly once: the cursor neither skips one after the
kill (a gap) nor delivers one twice (a repeat), and replicas do not both deliver one.

Checked against the feature broken on purpose: with the cursor written before the messages are appended
(polling._poll_chat, with a 20 ms pause between the two to widen the window) the kill test found gaps in 2 runs of
3; with message event ids made fresh per poll (messages.message_event) it found a repeat in 1 of 2; with those and
with polls fired under fresh ids and no ordering key (every replica polling at once), the replica test found
repeats in 2 of 2. Either guard alone (one poll per interval, or message ids as dedupe keys) keeps replicas from
repeating a message.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from framework.chat_watch import ChatCursors
from framework.store.factory import open_store
from framework.testing.waiting import wait_until
from tests.framework.process_helpers import RoostedEmulator, Services
from tests.framework.store_fixtures import redis_url as redis_url

pytestmark = pytest.mark.slow

PERSON = "2041"
MESSAGES = 40

PLUGIN = """
from framework import Context, Event, Plugin

plugin = Plugin("echo")


@plugin.message()
async def echo(event: Event, ctx: Context) -> None:
    await ctx.reply(f"echo: {ctx.message.text}")
"""


def _bot(directory: Path, store_url: str, base_url: str, chat_id: str) -> Path:
    (directory / "echo_bot.py").write_text(PLUGIN)
    config = directory / "bot.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [store]
            url = "{store_url}"

            [adapters.roosted]
            provider = "roostedhr"
            base_url = "{base_url}"
            api_key = "test-key"
            worker_id = "3158"

            [conversations]
            poll_interval = 0.05
            watch = {{ roosted = ["{chat_id}"] }}

            [plugins]
            modules = ["echo_bot"]
            entry_points = false
            """
        )
    )
    return config


def _tally(emulator: RoostedEmulator, chat_id: str) -> Counter[str]:
    """How often each person's message was echoed."""
    chat = emulator.state.chats[chat_id]
    return Counter(m.text.removeprefix("echo: ") for m in chat.messages if m.sender_id == "3158")


async def _write(emulator: RoostedEmulator, chat_id: str, numbers: range) -> None:
    chat = emulator.state.chats[chat_id]
    for number in numbers:
        emulator.state.add_message(chat, PERSON, f"message {number}")
        await asyncio.sleep(0.01)


def _expected() -> Counter[str]:
    return Counter(f"message {number}" for number in range(MESSAGES))


async def test_kill_9_mid_stream_then_a_restart_answers_every_message_once(tmp_path: Path) -> None:
    async with RoostedEmulator() as emulator, Services(_bot_dir(tmp_path)) as services:
        chat = emulator.state.create_chat("3158", [PERSON], "Echo")
        services.config = _bot(tmp_path / "bot", "sqlite:///bot.db", emulator.base_url, chat.id)
        first = await services.start()
        # a configured chat is delivered from its first poll on: write once that poll has set its cursor
        await _until_polled(f"sqlite:///{tmp_path / 'bot' / 'bot.db'}", chat.id)
        await _write(emulator, chat.id, range(MESSAGES // 2))
        await wait_until(lambda: sum(_tally(emulator, chat.id).values()) >= 5, timeout=10)
        await first.kill()  # mid-stream: polls, appends and replies in flight
        await _write(emulator, chat.id, range(MESSAGES // 2, MESSAGES))
        await services.start()
        await wait_until(lambda: sum(_tally(emulator, chat.id).values()) >= MESSAGES, timeout=20)
        await asyncio.sleep(0)
        assert _tally(emulator, chat.id) == _expected()


async def test_two_replicas_on_one_redis_answer_every_message_once(tmp_path: Path, redis_url: str) -> None:
    async with RoostedEmulator() as emulator, Services(_bot_dir(tmp_path)) as services:
        chat = emulator.state.create_chat("3158", [PERSON], "Echo")
        services.config = _bot(tmp_path / "bot", redis_url, emulator.base_url, chat.id)
        replicas = [await services.start(), await services.start()]
        await _until_polled(redis_url, chat.id)
        await _write(emulator, chat.id, range(MESSAGES))
        await wait_until(lambda: sum(_tally(emulator, chat.id).values()) >= MESSAGES, timeout=20)
        assert _tally(emulator, chat.id) == _expected()
        assert all(replica.alive for replica in replicas)


def _bot_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "bot"
    directory.mkdir(exist_ok=True)
    return directory / "bot.toml"


async def _until_polled(store_url: str, chat_id: str) -> None:
    """Until the first poll has set the configured chat's cursor: it is delivered from then on."""
    store = open_store(store_url)
    await store.open()
    try:
        cursors = ChatCursors(store)
        await wait_until(lambda: _is_set(cursors, chat_id), timeout=10)
    finally:
        await store.close()


async def _is_set(cursors: ChatCursors, chat_id: str) -> bool:
    return await cursors.get("roosted", chat_id) is not None
