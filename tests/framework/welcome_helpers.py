"""The operator's plain welcome handler on the RoostedHR emulator, as several framework tests run it."""

from __future__ import annotations

from adapters.roostedhr.emulator import STATE_KEY
from adapters.roostedhr.emulator_state import RoostedState
from framework import Context, Event, Plugin
from framework.testing import BotHarness

__all__ = ["roosted_state", "welcome_plugin"]


def welcome_plugin() -> Plugin:
    """One chat for the member who joined, one welcome message in it."""
    plugin = Plugin("welcome")

    @plugin.on("member.joined")
    async def welcome(event: Event, ctx: Context) -> None:
        roosted = ctx.chats["roosted"]
        chat = await roosted.create_chat(name=f"Welcome {event.data['name']}", members=["120915"])
        await roosted.post_message(chat.id, f"Welcome aboard, {event.data['name']}!")

    return plugin


def roosted_state(bot: BotHarness) -> RoostedState:
    """What the bot's RoostedHR emulator (adapter `roosted`) holds."""
    state: RoostedState = bot.emulators["roosted"][STATE_KEY]
    return state
