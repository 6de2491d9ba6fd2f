"""The bot the admin console's tests run: a welcome handler against the RoostedHR emulator and one schedule."""

from __future__ import annotations

from typing import Any

from framework import Context, Event, Plugin
from framework.testing import BotHarness
from tests.framework import welcome_helpers

__all__ = ["harness", "messages", "welcome_plugin"]


def welcome_plugin() -> Plugin:
    """The welcome handler, and a handler for the schedule's `digest.due`."""
    plugin = welcome_helpers.welcome_plugin()

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
    state = welcome_helpers.roosted_state(bot)
    return [message.text for chat in state.chats.values() for message in chat.messages]
