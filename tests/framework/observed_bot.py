"""A bot that exercises every series of `/metrics`: a webhook whose handler posts on the RoostedHR emulator (one
429 on the way), an event that is dead-lettered, and a schedule fire."""

from __future__ import annotations

from framework import Context, Event, InvalidEvent, Plugin
from framework.testing import BotHarness
from framework.tracing import Tracer

ROUTE = "/hooks/notes"
DELIVERY = "delivery-7"
EVENT_ID = f"webhook:{ROUTE}:{DELIVERY}"
HANDLER = "observed.note"


def observed_plugin() -> Plugin:
    plugin = Plugin("observed")

    @plugin.on("note.received")
    async def note(event: Event, ctx: Context) -> None:
        roosted = ctx.chats["roosted"]
        chat = await roosted.create_chat("Notes", ["120915"])
        await roosted.post_message(chat.id, str(event.data["text"]))
        ctx.log.info("posted the note")
        if event.data.get("follow_up"):
            await ctx.emit("note.followed_up", {"chat": chat.id})

    @plugin.on("note.followed_up")
    async def followed_up(event: Event, ctx: Context) -> None:
        ctx.log.info("followed up in chat %s", event.data["chat"])

    @plugin.on("note.doomed")
    async def doomed(event: Event, ctx: Context) -> None:
        raise InvalidEvent("this note cannot be handled")

    @plugin.on("tick")
    async def tick(event: Event, ctx: Context) -> None:
        pass

    return plugin


def observed_bot(tracer: Tracer | None = None) -> BotHarness:
    return BotHarness.from_plugins(
        observed_plugin(),
        adapters={"roosted": {"provider": "roostedhr", "worker_id": "3158"}},
        config={
            "webhooks": [
                {
                    "path": ROUTE,
                    "event_field": "kind",
                    "id_field": "id",
                    "insecure": True,
                    "verify": {"scheme": "none"},
                }
            ],
            "schedules": [{"id": "ticker", "interval": 60, "event": "tick"}],
        },
        tracer=tracer,
    )


async def exercise(bot: BotHarness) -> str:
    """Drive every path once and return the `/metrics` page."""
    bot.script("roosted", status=429, retry_after=0, method="POST", path="*/messages", times=1)
    status, _ = await bot.post(
        ROUTE, {"kind": "note.received", "id": DELIVERY, "text": "hi", "follow_up": True}
    )
    assert status == 202
    await bot.emit("note.doomed")
    await bot.settle()
    assert bot.runtime is not None and bot.runtime.schedules is not None
    fires, _ = await bot.runtime.schedules.overview()
    ((_, next_fire),) = fires
    assert next_fire is not None
    await bot.advance_to(next_fire)
    return await (await bot.get("/metrics")).text()
