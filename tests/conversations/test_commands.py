"""Commands and message filters: the configured prefix, a command's own prefix, letter case, arguments split as a
shell would, and the filters on chat, sender and adapter - run through a bot with an in-memory adapter."""

from __future__ import annotations

import re

import pytest

from framework import ChatMessage, Context, Event, InvalidEvent, Plugin
from framework.chat_commands import CommandSpec, split_arguments
from framework.messages import message_event
from framework.testing import BotHarness, RecordingProvider


def _said(text: str, *, chat: str = "c1", sender: str = "ada", adapter: str = "fake", n: int = 1) -> Event:
    message = ChatMessage(
        provider="memory", adapter=adapter, chat_id=chat, message_id=f"m{n}", sender_id=sender, text=text
    )
    return message_event(message, source="test")


def _bot(plugin: Plugin, **conversations: str) -> tuple[BotHarness, RecordingProvider]:
    fake = RecordingProvider("fake")
    bot = BotHarness.from_plugins(plugin, providers={"fake": fake}, config={"conversations": conversations})
    return bot, fake


def _replies(fake: RecordingProvider) -> list[tuple[str, str]]:
    return [
        (call.args["chat_id"], call.args["text"]) for call in fake.calls if call.operation == "post_message"
    ]


async def test_the_configured_prefix_and_a_commands_own_prefix() -> None:
    plugin = Plugin("cmds")

    @plugin.command("swap")
    async def swap(event: Event, ctx: Context) -> None:
        await ctx.reply(f"swap {list(ctx.command.args)} rest={ctx.command.rest!r}")

    @plugin.command("when", prefix="")
    async def when(event: Event, ctx: Context) -> None:
        await ctx.reply("at 8")

    bot, fake = _bot(plugin, command_prefix="/")
    async with bot:
        for n, text in enumerate(
            ["!swap no", '/SWAP "Ada Lovelace" fri', "/swapper no", "When?", "when is it", "/swap"], 1
        ):
            await bot.append(_said(text, n=n))
        await bot.settle()
    assert _replies(fake) == [
        ("c1", "swap ['Ada Lovelace', 'fri'] rest='\"Ada Lovelace\" fri'"),
        ("c1", "at 8"),
        ("c1", "swap [] rest=''"),
    ]


async def test_message_filters_on_chat_sender_and_adapter() -> None:
    plugin = Plugin("filters")

    @plugin.message(re.compile(r"^help"), chat=["c1", "c2"], sender="ada", adapter="fake")
    async def help_wanted(event: Event, ctx: Context) -> None:
        await ctx.reply(f"helping {ctx.message.sender_id}")

    bot, fake = _bot(plugin)
    async with bot:
        await bot.append(_said("help me", chat="c2", n=1))
        await bot.append(_said("help me", chat="c3", n=2))  # another chat
        await bot.append(_said("help me", sender="bob", n=3))  # another sender
        await bot.append(_said("please help", n=4))  # the pattern is anchored
        await bot.append(_said("Help", n=5))  # a compiled pattern keeps its own case rules
        await bot.settle()
    assert _replies(fake) == [("c2", "helping ada")]


def test_arguments_split_as_a_shell_would_or_on_whitespace_when_quotes_do_not_balance() -> None:
    assert split_arguments('"Ada Lovelace" fri\\ day') == ("Ada Lovelace", "fri day")
    assert split_arguments("it's 8") == ("it's", "8")
    assert CommandSpec(name="ack", prefix="").parse("ACK iss-1").args == ("iss-1",)
    with pytest.raises(ValueError, match="one word"):
        CommandSpec(name="two words")


def test_ctx_message_of_another_event_is_an_invalid_event() -> None:
    with pytest.raises(InvalidEvent):
        ChatMessage.from_event(Event(id="e", type="shift.published"))
