"""Hello: one handler that greets whoever a `greeting.requested` event names."""

from framework import Context, Event, Plugin

plugin = Plugin("hello")


@plugin.on("greeting.requested")
async def greet(event: Event, ctx: Context) -> None:
    name = event.data.get("name", "world")
    # ctx.log adds the event id to every line, so one event's lines can be found among many.
    ctx.log.info("Hello, %s!", name)
