"""Tickets: a room on Pigeon (the custom adapter) for every opened ticket, and a note when it closes."""

from framework import Context, Event, Plugin

plugin = Plugin("tickets")
plugin.requires("pigeon", "create_chat", "post_message")


@plugin.on("ticket.opened")
async def open_room(event: Event, ctx: Context) -> None:
    ticket = event.data
    pigeon = ctx.chats["pigeon"]
    # Keyed by the ticket, so a retried or repeated event does not open a second room.
    room_id = await ctx.state.get(f"room:{ticket['id']}")
    if room_id is None:
        room = await pigeon.create_chat(f"Ticket #{ticket['id']}: {ticket['title']}", ticket["members"])
        room_id = room.id
        await ctx.state.set(f"room:{ticket['id']}", room_id)
    await pigeon.post_message(room_id, f"New ticket: {ticket['title']}")


@plugin.on("ticket.closed")
async def note_closed(event: Event, ctx: Context) -> None:
    room_id = await ctx.state.get(f"room:{event.data['id']}")
    if room_id is None:
        ctx.log.warning("ticket %s has no room; nothing to do", event.data["id"])
        return
    await ctx.chats["pigeon"].post_message(room_id, "Ticket closed.")
