"""The bot the admin console's tests run: a welcome handler against the RoostedHR emulator and one schedule."""

from __future__ import annotations

from typing import Any

from adapters.roostedhr.emulator import STATE_KEY
from adapters.roostedhr.emulator_state import RoostedState
from framework import Context, Event, Plugin
from framework.testing import BotHarness

__all__ = ["harness", "messages", "welcome_plugin"]


def welcome_plugin() -> Plugin:
    plugin = Plugin("welcome")

    @plugin.on("member.joined")
    async def welcome(event: Event, ctx: Context) -> None:
        roosted = ctx.chats["roosted"]
        chat = await roosted.create_chat(name=f"Welcome {event.data['name']}", members=["120915"])
        await roosted.post_message(chat.id, f"Welcome aboard, {event.data['name']}!")

    @plugin.on("digest.due")
    async def digest(event: Event, ctx: Context) -> None:
        pass

    return plugin


def harness(**service: Any) -> BotHarness:
    return BotHarness.from_plugins(
        welcome_plugin(),
        adapters={"roosted": {"provider": "roostedhr", "worker_id": "3158", "timeout": 0.5, "retries": 1}},
        config={
            "service": service,
            "schedules": [{"id": "weekday-digest", "cron": "0 8 * * mon-fri", "event": "digest.due"}],
        },
    )


def messages(bot: BotHarness) -> list[str]:
    state: RoostedState = bot.emulators["roosted"][STATE_KEY]
    return [message.text for chat in state.chats.values() for message in chat.messages]
