"""examples/custom_adapter: the Pigeon adapter, loaded by `module:ATTR`, against its own emulator."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from examples.custom_adapter.adapter import ADAPTER, PigeonConfig
from framework import AuthError, Capability, Context, Event, Plugin, Unsupported
from framework.adapter_registry import EmulatorOptions
from framework.testing.pytest_plugin import BotFactory
from tests.examples.helpers import EXAMPLES, cli, copy_config, serving
from tests.ports import free_port

CONFIG = EXAMPLES / "custom_adapter" / "bot.toml"
PROVIDER = "examples.custom_adapter.adapter:ADAPTER"
TICKET = {"id": 42, "title": "Printer on fire", "members": ["ada", "grace"]}


async def test_ticket_opens_one_room_and_posts(chatwright_bot: BotFactory) -> None:
    bot = await chatwright_bot.from_config(CONFIG)

    await bot.emit("ticket.opened", TICKET)
    await bot.emit("ticket.opened", TICKET)  # a repeat: no second room
    await bot.emit("ticket.closed", {"id": 42})

    posts = [(r.path, r.body) for r in bot.requests("pigeon", method="POST")]
    assert posts == [
        ("/v1/rooms", {"title": "Ticket #42: Printer on fire", "members": ["ada", "grace"]}),
        ("/v1/rooms/1/messages", {"body": "New ticket: Printer on fire"}),
        ("/v1/rooms/1/messages", {"body": "New ticket: Printer on fire"}),
        ("/v1/rooms/1/messages", {"body": "Ticket closed."}),
    ]
    assert await bot.state("tickets", "room:42") == "1"
    pigeon = bot.provider("pigeon")
    room = await pigeon.get_chat("1")
    assert (room.id, room.name, room.members) == ("1", "Ticket #42: Printer on fire", ("ada", "grace"))
    assert [m.text async for m in pigeon.list_messages(1)][-1] == "Ticket closed."
    assert [c.id async for c in pigeon.list_chats()] == ["1"]


async def test_what_pigeon_lacks_is_unsupported_and_dead_lettered_at_once(chatwright_bot: BotFactory) -> None:
    plugin = Plugin("renamer")

    @plugin.on("room.rename")
    async def rename(event: Event, ctx: Context) -> None:
        await ctx.chats["pigeon"].rename_chat(event.data["room"], "New name")

    bot = await chatwright_bot.from_plugins(plugin, adapters={"pigeon": {"provider": PROVIDER}})
    pigeon = bot.provider("pigeon")
    assert Capability.RENAME_CHAT not in pigeon.capabilities
    for call in (pigeon.set_members("1", ["ada"]), pigeon.delete_chat("1")):
        with pytest.raises(Unsupported):
            await call

    outcomes = await bot.emit("room.rename", {"room": "1"})

    assert [(d.action, d.outcome.event.attempt) for d in outcomes] == [("dead", 1)]
    assert "rename_chat is not supported by pigeon" in (await bot.dead_letters())[0].error


async def test_error_answers_become_provider_errors() -> None:
    assert ADAPTER.emulator is not None
    server = TestServer(ADAPTER.emulator(EmulatorOptions()))
    await server.start_server()
    config = PigeonConfig(provider=PROVIDER, base_url=str(server.make_url("")).rstrip("/"), token="wrong")
    provider = ADAPTER.build("pigeon", config)
    try:
        with pytest.raises(AuthError, match="send Authorization: Bearer test-token") as raised:
            await provider.get_chat("1")
        assert (raised.value.status, raised.value.code) == (401, "unauthorized")
    finally:
        await provider.close()
        await server.close()


def test_check_reports_the_capabilities() -> None:
    result = cli("check", str(CONFIG))

    assert result.returncode == 0, result.stderr
    assert (
        f"pigeon ({PROVIDER}): create_chat, get_chat, list_chats, list_messages, post_message"
        in result.stdout
    )


def test_readme_flow_with_the_emulator(tmp_path: Path) -> None:
    """`chatwright emulate --provider ...:ADAPTER` and `chatwright emit`, as the README runs them."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = copy_config("custom_adapter", tmp_path)
    env = {"PIGEON_BASE_URL": base}
    token = {"Authorization": "Bearer test-token"}

    with serving(
        ["emulate", "--provider", PROVIDER, "--port", str(port)],
        f"{base}/_emulator/requests",
        tmp_path / "emulate.log",
    ):
        opened = cli("emit", str(config), "ticket.opened", "--data", json.dumps(TICKET), env=env)
        closed = cli("emit", str(config), "ticket.closed", "--data", '{"id": 42}', env=env)
        request = urllib.request.Request(f"{base}/v1/rooms/1/messages", headers=token)
        with urllib.request.urlopen(request, timeout=5) as response:
            messages = json.load(response)["messages"]

    assert opened.returncode == 0 and "ok      tickets.open_room" in opened.stdout, opened.stderr
    assert closed.returncode == 0 and "ok      tickets.note_closed" in closed.stdout, closed.stderr
    assert [m["body"] for m in messages] == ["New ticket: Printer on fire", "Ticket closed."]
