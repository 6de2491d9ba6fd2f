"""Conversations end to end: people write in chats at the emulators, handlers hear them and reply, exactly once."""

from __future__ import annotations

from typing import Any

from adapters.devrev.emulator import TEST_USER_ID, WEBHOOK_KEY
from adapters.roostedhr.emulator import STATE_KEY as ROOSTED_STATE
from framework import Context, Event, Plugin
from framework.messages import message_event
from framework.testing import BotHarness
from tests.conftest import wait_until

ROOSTED = {"provider": "roostedhr", "worker_id": "3158"}
POPSELL = {"provider": "popsell", "domain": "acme.popsell.test", "brand_id": 7, "sender_ambassador_id": 1}
MARIA = "2041"


def _bot() -> tuple[Plugin, list[tuple[str, tuple[str, ...]]]]:
    plugin = Plugin("talk")
    heard: list[tuple[str, tuple[str, ...]]] = []

    @plugin.on("open")
    async def open_chat(event: Event, ctx: Context) -> None:
        await ctx.chats[event.data["adapter"]].create_chat("Talk", event.data["members"])

    @plugin.command("swap")
    async def swap(event: Event, ctx: Context) -> None:
        heard.append(("swap", ctx.command.args))
        await ctx.reply(f"swap with {' and '.join(ctx.command.args)}?")

    @plugin.message(r"\bhello\b")
    async def hello(event: Event, ctx: Context) -> None:
        heard.append(("hello", (ctx.message.sender_id or "", ctx.message.text)))
        await ctx.reply(f"hello {ctx.message.sender_name}")

    return plugin, heard


async def _open(bot: BotHarness, adapter: str, members: list[Any]) -> str:
    await bot.emit("open", {"adapter": adapter, "members": members})
    created = [r for r in bot.requests(adapter, method="POST") if r.path.endswith(("/chats", "/chatrooms"))]
    assert created, "the chat was not created"
    watched = await bot._runtime.poller.watched.chats(adapter)  # type: ignore[union-attr]
    assert len(watched) == 1
    return watched[0].chat_id


async def test_a_command_is_routed_with_its_arguments_and_answered_once_in_its_chat() -> None:
    plugin, heard = _bot()
    async with BotHarness.from_plugins(plugin, adapters={"roosted": ROOSTED}) as bot:
        chat = await _open(bot, "roosted", [MARIA])
        handled = await bot.write("roosted", chat, MARIA, '!swap "Ada Lovelace" friday')
        assert [d.action for d in handled] == ["done"]
        assert heard == [("swap", ("Ada Lovelace", "friday"))]
        posted = bot.requests("roosted", method="POST", path=f"/chats/{chat}/messages")
        assert [r.body for r in posted] == [{"message": "swap with Ada Lovelace and friday?"}]
        # the reply is the bot's own message: polled again, it is not delivered; nothing is delivered twice
        await bot.poll("roosted")
        await bot.settle()
        assert len(heard) == 1
        assert len(bot.requests("roosted", method="POST", path=f"/chats/{chat}/messages")) == 1
        metrics = await (await bot.get("/metrics")).text()
        assert 'chatwright_polled_messages_total{adapter="roosted",outcome="delivered"} 1' in metrics
        assert 'chatwright_polled_messages_total{adapter="roosted",outcome="own"} 1' in metrics


async def test_message_filters_match_text_and_ignore_other_messages() -> None:
    plugin, heard = _bot()
    async with BotHarness.from_plugins(plugin, adapters={"roosted": ROOSTED}) as bot:
        chat = await _open(bot, "roosted", [MARIA])
        await bot.write("roosted", chat, MARIA, "nothing to see")
        await bot.write("roosted", chat, MARIA, "well HELLO there")
        assert heard == [("hello", (MARIA, "well HELLO there"))]
        posted = bot.requests("roosted", method="POST", path=f"/chats/{chat}/messages")
        assert [r.body for r in posted] == [{"message": "hello Maria Lopez"}]


async def test_popsell_chatrooms_are_polled_too() -> None:
    plugin, heard = _bot()
    async with BotHarness.from_plugins(plugin, adapters={"pop": POPSELL}) as bot:
        chat = await _open(bot, "pop", [1, 2])
        await bot.write("pop", chat, "2", "!swap x")
        assert heard == [("swap", ("x",))]
        posted = bot.requests("pop", method="POST", path=f"/chatrooms/{chat}/messages")
        assert [r.body["content"] for r in posted] == ["swap with x?"]


GRACE = "don:identity:dvrv-us-1:devo/0:devu/2"
DEVREV_SECRET = "devrev-webhook-secret"


def _devrev_bot(plugin: Plugin, *, poll: bool = False) -> BotHarness:
    route = {
        "path": "/hooks/devrev",
        "preset": "devrev",
        "adapter": "devrev",
        "verify": {"secrets": [DEVREV_SECRET]},
    }
    conversations: dict[str, Any] = {"poll": ["devrev"] if poll else []}
    return BotHarness.from_plugins(
        plugin,
        adapters={"devrev": {"provider": "devrev", "user_id": TEST_USER_ID}},
        config={"webhooks": [route], "conversations": conversations},
    )


async def test_devrev_pushes_messages_through_its_webhook_and_the_bot_does_not_hear_its_reply() -> None:
    plugin, heard = _bot()
    async with _devrev_bot(plugin) as bot:
        await bot.emit("open", {"adapter": "devrev", "members": [TEST_USER_ID, GRACE]})
        dm = (await bot.provider("devrev").get_chat("DM-1")).id
        handled = await bot.write("devrev", dm, GRACE, "!swap monday")
        assert [d.outcome.event.source for d in handled] == ["webhook:/hooks/devrev"]
        assert heard == [("swap", ("monday",))]
        replies = bot.requests("devrev", path="/timeline-entries.create")
        assert [r.body["body"] for r in replies] == ["swap with monday?"]
        # DevRev sends the bot's reply as a webhook too: it is answered 200, not delivered
        sender = bot.emulators["devrev"][WEBHOOK_KEY]
        await wait_until(lambda: len(sender.deliveries) == 2)
        assert [d.status for d in sender.deliveries] == [202, 200]
        await bot.settle()
        assert len(heard) == 1


async def test_push_and_poll_give_the_same_event() -> None:
    plugin, _ = _bot()
    async with _devrev_bot(plugin, poll=True) as bot:
        await bot.emit("open", {"adapter": "devrev", "members": [TEST_USER_ID, GRACE]})
        dm = (await bot.provider("devrev").get_chat("DM-1")).id
        pushed = await bot.write("devrev", dm, GRACE, "hello bot")
        event = pushed[0].outcome.event
        polled = await bot.provider("devrev").poll_messages(dm, None)  # type: ignore[attr-defined]
        people = [m for m in polled.messages if m.sender_id == GRACE]
        again = message_event(people[0], source="poll:devrev")
        assert (again.id, again.type, again.data) == (event.id, event.type, event.data)
        assert not await bot.append(again)  # the inbox takes it for the message it already has


async def test_a_handler_watches_a_chat_it_did_not_create_and_unwatches_it() -> None:
    plugin, heard = _bot()

    @plugin.on("room.watch")
    async def watch(event: Event, ctx: Context) -> None:
        await ctx.watch("roosted", event.data["chat"])

    @plugin.on("room.unwatch")
    async def unwatch(event: Event, ctx: Context) -> None:
        await ctx.unwatch("roosted", event.data["chat"])

    async with BotHarness.from_plugins(plugin, adapters={"roosted": ROOSTED}) as bot:
        state = bot.emulators["roosted"][ROOSTED_STATE]
        chat = state.create_chat(MARIA, ["3158"], "Made elsewhere").id
        await bot.write("roosted", chat, MARIA, "!swap before")  # not watched: not heard
        await bot.emit("room.watch", {"chat": chat})
        await bot.poll("roosted")  # watched from now on: what was written before is not delivered
        await bot.write("roosted", chat, MARIA, "!swap during")
        await bot.emit("room.unwatch", {"chat": chat})
        await bot.write("roosted", chat, MARIA, "!swap after")
        assert heard == [("swap", ("during",))]
