"""Announcer: each signed delivery on /hooks/announcements is posted as a message in a RoostedHR chat."""

from framework import Context, Event, Plugin

plugin = Plugin("announcer")
# `chatwright check` fails early if the adapter named "roosted" cannot do these.
plugin.requires("roosted", "create_chat", "post_message")


@plugin.on("announcement.received")
async def announce(event: Event, ctx: Context) -> None:
    channel = str(event.data["channel"])
    roosted = ctx.chats["roosted"]

    # One chat per channel, created the first time and remembered in the plugin's state. The route's
    # ordering_field = "channel" hands a channel's deliveries over one at a time, so two deliveries
    # arriving together cannot both create it.
    chat_id = await ctx.state.get(f"chat:{channel}")
    if chat_id is None:
        chat = await roosted.create_chat(f"Announcements: {channel}", event.data["members"])
        chat_id = chat.id
        await ctx.state.set(f"chat:{channel}", chat_id)

    message = await roosted.post_message(chat_id, str(event.data["text"]))
    ctx.log.info("posted message %s in chat %s", message.id, chat_id)
