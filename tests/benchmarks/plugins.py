"""The handlers the benchmarks load: a no-op, one provider call per webhook, a fan-out, a schedule recorder.

Only `plugin` (the no-op) is a module-level Plugin, so `modules = ["tests.benchmarks.plugins"]` in a config
loads just that one; the others are built by their factories.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from framework import Context, Event, Plugin

__all__ = [
    "MESSAGE",
    "fanout_plugin",
    "message_for",
    "noop_plugin",
    "plugin",
    "post_plugin",
    "recording_plugin",
]

MESSAGE = "Your shift starts soon."


def message_for(data: dict[str, Any]) -> str:
    """The message a benchmark handler posts for a webhook's `data`: MESSAGE, and the load generator's send time
    when the delivery carries one, so the emulator can take webhook -> provider post latency from it."""
    sent = data.get("sent")
    return MESSAGE if sent is None else f"{MESSAGE} {sent}"


def noop_plugin(pattern: str = "*") -> Plugin:
    """A handler that does nothing, for every event type matching `pattern`."""
    built = Plugin("bench_noop")

    @built.on(pattern)
    async def noop(event: Event, ctx: Context) -> None:
        return None

    return built


plugin = noop_plugin("bench.*")
"""What `chatwright run` loads in the footprint benchmark: a no-op handler for `bench.*`."""


def post_plugin(adapter: str = "roosted") -> Plugin:
    """One `post_message` per `shift.published` webhook, to the chat its body names (`data.chat_id`)."""
    built = Plugin("bench_post")

    @built.on("shift.published")
    async def post(event: Event, ctx: Context) -> None:
        data = event.data["data"]
        await ctx.chats[adapter].post_message(data["chat_id"], message_for(data))

    return built


def fanout_plugin(adapter: str = "roosted") -> Plugin:
    """`bench.fanout` posts one message to every chat in `data.chat_ids`, concurrently."""
    built = Plugin("bench_fanout")

    @built.on("bench.fanout")
    async def fan_out(event: Event, ctx: Context) -> None:
        provider = ctx.chats[adapter]
        chat_ids: list[str] = event.data["chat_ids"]
        await asyncio.gather(*(provider.post_message(chat_id, MESSAGE) for chat_id in chat_ids))

    return built


def recording_plugin(pattern: str, record: Callable[[Event, float], Any]) -> Plugin:
    """Calls `record(event, time.time())` for every event matching `pattern`."""
    built = Plugin("bench_record")

    @built.on(pattern)
    async def seen(event: Event, ctx: Context) -> None:
        record(event, time.time())

    return built
