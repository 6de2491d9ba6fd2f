"""shiftchat: one RoostedHR worker chat per shift, kept in line with the shift (state `shift:<id>`), reminded, cancelled.

Every chat call goes through `ctx.chats`, so it is a step: a retried handler gets the recorded chat or message
instead of acting again, and a call whose answer was lost is looked for at RoostedHR before it is repeated. The
state only deduplicates across events: a re-sent shift is compared with what the bot remembers of it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs

from adapters.roostedhr import RoostedHRProvider
from framework import ChatProvider, Context, Event, Plugin

from .config import ShiftchatConfig
from .shift import Shift, ShiftCancelled, ShiftChanged, parse_time, render

__all__ = ["ADAPTER", "REMINDER_EVENT", "ShiftRecord", "plugin", "reminder_job_id", "when_text"]

ADAPTER = "roosted"
"""The `[adapters.roosted]` table the bot talks to."""
REMINDER_EVENT = "shiftchat.reminder"

plugin = Plugin("shiftchat", config=ShiftchatConfig)
plugin.requires(ADAPTER, "create_chat", "rename_chat", "set_members", "post_message")


@attrs.define(kw_only=True)
class ShiftRecord:
    """What the bot remembers per shift (`ctx.state["shift:<id>"]`), as JSON."""

    chat_id: str
    name: str
    title: str
    starts_at: str
    roster: list[str]
    ends_at: str | None = None
    welcomed: bool = False
    reminder_at: str | None = None
    cancelled: bool = False
    cancel_notified: bool = False


def reminder_job_id(shift_id: str) -> str:
    """The reminder's schedule id: one per shift, so re-planning it replaces it."""
    return f"shiftchat.reminder:{shift_id}"


async def _load(ctx: Context, shift_id: str) -> ShiftRecord | None:
    raw = await ctx.state.get(f"shift:{shift_id}")
    return None if raw is None else ShiftRecord(**raw)


async def _save(ctx: Context, shift_id: str, record: ShiftRecord) -> None:
    await ctx.state.set(f"shift:{shift_id}", attrs.asdict(record))


def _config(ctx: Context) -> ShiftchatConfig:
    config = ctx.config
    return config if isinstance(config, ShiftchatConfig) else ShiftchatConfig()


def _shift(event: Event, config: ShiftchatConfig) -> Shift:
    return event.payload(ShiftChanged).shift.in_zone(config.zone)


def _text(config: ShiftchatConfig, template: str, shift_id: str, title: str, starts_at: datetime) -> str:
    return render(template, shift_id, title, starts_at, zone=config.zone, minutes=config.reminder_minutes)


def _members(provider: ChatProvider, roster: tuple[str, ...] | list[str]) -> list[str]:
    """The roster plus the bot's own worker, so that replacing the members never takes the bot off the chat."""
    members = list(roster)
    if isinstance(provider, RoostedHRProvider) and provider.client.worker_id not in members:
        members.append(provider.client.worker_id)
    return members


async def _sync_name(ctx: Context, record: ShiftRecord, shift: Shift) -> None:
    config = _config(ctx)
    name = _text(config, config.chat_name, shift.id, shift.title, shift.starts_at)
    if name != record.name:
        await ctx.chats[ADAPTER].rename_chat(record.chat_id, name)
    ends_at = None if shift.ends_at is None else shift.ends_at.isoformat()
    wanted = (name, shift.title, shift.starts_at.isoformat(), ends_at)
    if wanted != (record.name, record.title, record.starts_at, record.ends_at):
        record.name, record.title, record.starts_at, record.ends_at = wanted
        await _save(ctx, shift.id, record)


async def _sync_roster(ctx: Context, record: ShiftRecord, shift: Shift) -> None:
    if set(record.roster) == set(shift.worker_ids):
        return
    provider = ctx.chats[ADAPTER]
    await provider.set_members(record.chat_id, _members(provider, shift.worker_ids))
    record.roster = list(shift.worker_ids)
    await _save(ctx, shift.id, record)


async def _plan_reminder(ctx: Context, record: ShiftRecord, shift: Shift) -> None:
    """Schedule (or move) the reminder `reminder_minutes` before the start; none for a shift already begun."""
    job_id = reminder_job_id(shift.id)
    if shift.starts_at <= datetime.now(UTC):
        if record.reminder_at is not None:
            await ctx.schedule.cancel(job_id)
            record.reminder_at = None
            await _save(ctx, shift.id, record)
        return
    remind_at = (shift.starts_at - timedelta(minutes=_config(ctx).reminder_minutes)).astimezone(UTC)
    if record.reminder_at == remind_at.isoformat():
        return
    data = {"shift_id": shift.id, "starts_at": shift.starts_at.isoformat()}
    await ctx.schedule.at(remind_at, REMINDER_EVENT, data, id=job_id)
    record.reminder_at = remind_at.isoformat()
    await _save(ctx, shift.id, record)


async def _open_or_update(ctx: Context, shift: Shift) -> None:
    """Bring the shift's chat in line with `shift`: create it (once) or rename and re-roster it."""
    config = _config(ctx)
    record = await _load(ctx, shift.id)
    if record is None:
        name = _text(config, config.chat_name, shift.id, shift.title, shift.starts_at)
        provider = ctx.chats[ADAPTER]
        chat = await provider.create_chat(name, _members(provider, shift.worker_ids))
        record = ShiftRecord(
            chat_id=chat.id,
            name=name,
            title=shift.title,
            starts_at=shift.starts_at.isoformat(),
            ends_at=None if shift.ends_at is None else shift.ends_at.isoformat(),
            roster=list(shift.worker_ids),
        )
        # Saved before the welcome: a later event about the shift uses this chat even if this one fails from here.
        await _save(ctx, shift.id, record)
        await ctx.state.set(f"chat:{chat.id}", shift.id)
        ctx.log.info("shift %s: chat %s created", shift.id, chat.id)
    else:
        if record.cancelled:
            record.cancelled = record.cancel_notified = False
            await _save(ctx, shift.id, record)
        await _sync_name(ctx, record, shift)
        await _sync_roster(ctx, record, shift)
    if not record.welcomed:
        text = _text(config, config.welcome, shift.id, shift.title, shift.starts_at)
        await ctx.chats[ADAPTER].post_message(record.chat_id, text)
        record.welcomed = True
        await _save(ctx, shift.id, record)
    await _plan_reminder(ctx, record, shift)


@plugin.on("shift.published", payload=ShiftChanged)
async def shift_published(event: Event, ctx: Context) -> None:
    """Open the shift's chat with its workers, welcome them, plan the reminder (a re-publish updates all)."""
    await _open_or_update(ctx, _shift(event, _config(ctx)))


@plugin.on("shift.renamed", payload=ShiftChanged)
async def shift_renamed(event: Event, ctx: Context) -> None:
    """Rename the chat after the shift's new title or time, and move the reminder with the start."""
    shift = _shift(event, _config(ctx))
    record = await _load(ctx, shift.id)
    if record is None:
        await _open_or_update(ctx, shift)
    elif record.cancelled:
        ctx.log.info("shift %s is cancelled; rename ignored", shift.id)
    else:
        await _sync_name(ctx, record, shift)
        await _plan_reminder(ctx, record, shift)


@plugin.on("shift.roster_changed", payload=ShiftChanged)
async def shift_roster_changed(event: Event, ctx: Context) -> None:
    """Replace the chat's members with the shift's new roster (the bot stays in)."""
    shift = _shift(event, _config(ctx))
    record = await _load(ctx, shift.id)
    if record is None:
        await _open_or_update(ctx, shift)
    elif record.cancelled:
        ctx.log.info("shift %s is cancelled; roster change ignored", shift.id)
    else:
        await _sync_roster(ctx, record, shift)


@plugin.on("shift.cancelled", payload=ShiftCancelled)
async def shift_cancelled(event: Event, ctx: Context) -> None:
    """Drop the reminder and tell the chat, once; the chat stays (RoostedHR cannot delete chats)."""
    shift_id = event.payload(ShiftCancelled).shift.id
    record = await _load(ctx, shift_id)
    if record is None:
        ctx.log.info("shift %s was never opened; nothing to cancel", shift_id)
        return
    if record.cancelled and record.cancel_notified:
        return
    if not record.cancelled or record.reminder_at is not None:
        await ctx.schedule.cancel(reminder_job_id(shift_id))
        record.cancelled, record.reminder_at = True, None
        await _save(ctx, shift_id, record)
    config = _config(ctx)
    text = _text(config, config.cancelled, shift_id, record.title, parse_time(record.starts_at))
    await ctx.chats[ADAPTER].post_message(record.chat_id, text)
    record.cancel_notified = True
    await _save(ctx, shift_id, record)


@plugin.on(REMINDER_EVENT)
async def remind(event: Event, ctx: Context) -> None:
    """Post "Your shift ... starts at ..." - unless the shift was cancelled or moved since it was planned."""
    shift_id = str(event.data.get("shift_id", ""))
    record = await _load(ctx, shift_id)
    if record is None or record.cancelled:
        return
    planned_start = str(event.data.get("starts_at", ""))
    if parse_time(planned_start) != parse_time(record.starts_at):
        ctx.log.info("shift %s moved since this reminder was planned; skipped", shift_id)
        return
    reminded_key = f"reminded:{shift_id}"
    if await ctx.state.get(reminded_key) == planned_start:
        return
    config = _config(ctx)
    text = _text(config, config.reminder, shift_id, record.title, parse_time(record.starts_at))
    await ctx.chats[ADAPTER].post_message(record.chat_id, text)
    await ctx.state.set(reminded_key, planned_start)


@plugin.command("when", prefix="", adapter=ADAPTER)
async def when(event: Event, ctx: Context) -> None:
    """A worker writes `when` in a shift's chat: the bot answers with the shift's times (its zone's)."""
    shift_id = await ctx.state.get(f"chat:{ctx.message.chat_id}")
    record = None if shift_id is None else await _load(ctx, shift_id)
    if record is None:
        ctx.log.debug("`when` in chat %s, which is no shift's chat", ctx.message.chat_id)
        return
    await ctx.reply(when_text(record, _config(ctx)))
    ctx.log.info(
        "shift %s: %s asked when; answered", shift_id, ctx.message.sender_name or ctx.message.sender_id
    )


def when_text(record: ShiftRecord, config: ShiftchatConfig) -> str:
    """`Kitchen morning: Tue 08 Dec 08:00-14:00 (Europe/Berlin)`, or that the shift was cancelled."""
    if record.cancelled:
        return f"{record.title} is cancelled."
    zone = config.zone
    starts = parse_time(record.starts_at)
    starts = starts.astimezone(zone) if zone else starts
    until = ""
    if record.ends_at is not None:
        ends = parse_time(record.ends_at)
        ends = ends.astimezone(zone) if zone else ends
        until = f"-{ends:%H:%M}" if ends.date() == starts.date() else f" to {ends:%a %d %b %H:%M}"
    where = f" ({config.timezone})" if config.timezone else ""
    return f"{record.title}: {starts:%a %d %b %H:%M}{until}{where}"
