"""Reminders: post to a RoostedHR chat on a schedule, from `[[schedules]]` in bot.toml and `@plugin.cron`."""

from framework import Context, Event, Plugin

plugin = Plugin("reminders")
plugin.requires("roosted", "create_chat", "post_message")

TEAM = ["120915", "2041"]
"""Workers of the RoostedHR emulator; put your team's worker ids here."""


@plugin.on_startup
async def ensure_chat(ctx: Context) -> None:
    """Create the team's chat once, before any schedule fires (two reminders due at the same moment would
    otherwise race to create it). Its id is kept in the plugin's state, so a restart reuses it."""
    if await ctx.state.get("chat_id") is None:
        chat = await ctx.chats["roosted"].create_chat("Reminders", TEAM)
        await ctx.state.set("chat_id", chat.id)


async def post_to_team(ctx: Context, text: str) -> None:
    await ctx.chats["roosted"].post_message(await ctx.state.get("chat_id"), text)


@plugin.on("reminder.due")
async def post_reminder(event: Event, ctx: Context) -> None:
    """Fired by the `[[schedules]]` entries of bot.toml; their `data` carries the text."""
    await post_to_team(ctx, str(event.data["text"]))


@plugin.cron("0 16 * * fri", tz="Europe/Berlin")
async def timesheets(event: Event, ctx: Context) -> None:
    """A schedule declared in code: fires the event `cron.reminders.timesheets` every Friday at 16:00."""
    await post_to_team(ctx, "Please submit your timesheet before the weekend.")
