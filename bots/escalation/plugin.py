"""escalation: DevRev work items that match a rule get a DM among the responders and a summary per change.

`work_updated` records the item (`ctx.state["item:<id>"]`) and escalates it when it matches the rule and its
priority, stage or title changed; `timeline_entry_created` relays a comment on an item that matches. Each
escalation opens (once per item) the responders' DM with `get_if_conflict`, posts one summary per business
event - an update (item and `modified_date`) or a comment (its id) - and plans a reminder. Each business event
handled is recorded (`escalated:<trigger>`), so one re-sent under another delivery id does nothing; the DevRev
calls go through `ctx.chats`, so they are steps and a retried handler does not make them again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from framework import Context, Event, Plugin

from .config import EscalationConfig
from .item import (
    TimelineEntryCreated,
    WorkItem,
    WorkUpdated,
    changes,
    comment_reason,
    is_older,
    parse_work,
    reminder_text,
    summary_text,
)

__all__ = ["ADAPTER", "REMINDER_EVENT", "ack_title", "plugin", "reminder_job_id"]

ADAPTER = "devrev"
"""The `[adapters.devrev]` table the bot talks to."""
REMINDER_EVENT = "escalation.reminder"

plugin = Plugin("escalation", config=EscalationConfig)
plugin.requires(ADAPTER, "create_chat", "post_message")


def reminder_job_id(item_id: str) -> str:
    """The reminder's schedule id: one per item, so a new escalation moves it."""
    return f"escalation.reminder:{item_id}"


def _config(ctx: Context) -> EscalationConfig:
    config = ctx.config
    if not isinstance(config, EscalationConfig):
        raise TypeError("the escalation plugin runs without its [plugins.escalation] config")
    return config


async def _known(ctx: Context, item_id: str) -> tuple[WorkItem, bool] | None:
    """The item as last seen, and whether it matched the rule then."""
    raw = await ctx.state.get(f"item:{item_id}")
    return None if raw is None else (WorkItem.from_state(raw), bool(raw.get("matches")))


async def _escalate(ctx: Context, item: WorkItem, reason: str, trigger: str, at: datetime) -> None:
    """Open (or reuse) the item's DM, post the summary of `trigger` once, and (re)plan the reminder."""
    config = _config(ctx)
    ttl = config.remember_days * 86400
    done_key = f"escalated:{trigger}"
    if await ctx.state.get(done_key) == "done":
        ctx.log.info("%s: %s was handled before; nothing to do", item.display_id, trigger)
        return
    devrev = ctx.chats[ADAPTER]
    dm_id = await ctx.state.get(f"dm:{item.id}")
    if dm_id is None:
        chat = await devrev.create_chat(item.heading, config.responders, get_if_conflict=True)
        dm_id = chat.id
        await ctx.state.set(f"dm:{item.id}", dm_id, ttl=ttl)
        ctx.log.info("%s: DM %s with %d responders", item.display_id, dm_id, len(config.responders))
    await ctx.state.set(f"dm-last:{dm_id}", item.id, ttl=ttl)  # what a bare `ack` in the DM acknowledges
    await ctx.state.set(f"display:{item.display_id.upper()}", item.id, ttl=ttl)  # what `ack ISS-123` does
    await devrev.post_message(dm_id, summary_text(item, reason, config.link(item)))
    ctx.log.info("%s: summary of %s posted in DM %s", item.display_id, trigger, dm_id)
    if config.remind_after_minutes > 0:
        data: dict[str, Any] = {"item_id": item.id, "dm_id": dm_id, "escalated_at": at.isoformat()}
        when = at + timedelta(minutes=config.remind_after_minutes)
        await ctx.schedule.at(when, REMINDER_EVENT, data, id=reminder_job_id(item.id))
    await ctx.state.set(done_key, "done", ttl=ttl)


@plugin.on("work_updated", payload=WorkUpdated)
async def work_updated(event: Event, ctx: Context) -> None:
    """Record the item; escalate it when it matches the rule and what the summary shows changed."""
    config = _config(ctx)
    event.payload(WorkUpdated)  # the shape (checked at the webhook); the work objects are read leniently
    payload = event.data["work_updated"]
    item = parse_work(payload["work"], "work_updated.work")
    old_raw = payload.get("old_work")
    old = None if old_raw is None else parse_work(old_raw, "work_updated.old_work")
    known = await _known(ctx, item.id)
    if known is not None and is_older(item, known[0]):
        ctx.log.info("%s: an update older than the last one seen; nothing to do", item.display_id)
        return
    matches = config.rule.matches(item)
    await ctx.state.set(
        f"item:{item.id}", {**item.to_state(), "matches": matches}, ttl=config.remember_days * 86400
    )
    if not matches:
        if known is not None and known[1]:
            await ctx.schedule.cancel(reminder_job_id(item.id))
            ctx.log.info("%s no longer matches the rule; its reminder is cancelled", item.display_id)
        return
    changed = ["escalated"] if old is None else changes(old, item)
    if not changed:
        ctx.log.info("%s matches, but nothing a summary shows changed", item.display_id)
        return
    trigger = f"update:{item.id}@{item.modified}" if item.modified else f"delivery:{event.id}"
    await _escalate(ctx, item, ", ".join(changed), trigger, event.occurred_at)


@plugin.on("timeline_entry_created", payload=TimelineEntryCreated)
async def timeline_entry_created(event: Event, ctx: Context) -> None:
    """Relay a comment on an item that matched the rule when last seen (comments anywhere else are ignored)."""
    typed = event.payload(TimelineEntryCreated).timeline_entry_created.entry
    if typed.type != "timeline_comment":
        return
    entry = event.data["timeline_entry_created"]["entry"]  # the comment's body and author, read leniently
    object_id, entry_id = typed.object, typed.id
    if not object_id:
        ctx.log.warning("ignoring %s: the comment %s is on no object", event.type, entry_id)
        return
    known = await _known(ctx, object_id)
    if known is None or not known[1]:
        ctx.log.debug("comment %s is on %s, which is not an escalated item", entry_id, object_id)
        return
    await _escalate(ctx, known[0], comment_reason(entry), f"comment:{entry_id}", event.occurred_at)


@plugin.on(REMINDER_EVENT)
async def remind(event: Event, ctx: Context) -> None:
    """Post the reminder once, if the item still matches the rule."""
    config = _config(ctx)
    item_id, dm_id = str(event.data["item_id"]), str(event.data["dm_id"])
    known = await _known(ctx, item_id)
    if known is None or not known[1]:
        ctx.log.info("%s no longer matches the rule; no reminder", item_id)
        return
    item = known[0]
    if await ctx.state.get(f"acked:{item_id}") is not None:
        ctx.log.info("%s was acknowledged; no reminder", item.display_id)
        return
    minutes = round(
        (event.occurred_at - datetime.fromisoformat(event.data["escalated_at"])).total_seconds() / 60
    )
    await ctx.chats[ADAPTER].post_message(dm_id, reminder_text(item, minutes, config.link(item)))
    ctx.log.info("%s: reminder posted in DM %s", item.display_id, dm_id)


@plugin.command("ack", prefix="", adapter=ADAPTER)
async def ack(event: Event, ctx: Context) -> None:
    """A responder writes `ack` (the item last escalated in the DM) or `ack ISS-123` in the DM: the item is
    acknowledged - its reminder is cancelled and none is planned again - and the DM is renamed to say so."""
    config = _config(ctx)
    message = ctx.message
    args = ctx.command.args
    key = f"display:{args[0].upper()}" if args else f"dm-last:{message.chat_id}"
    item_id = await ctx.state.get(key)
    known = None if item_id is None else await _known(ctx, item_id)
    if known is None:
        what = f"no escalated item {args[0]}" if args else "no escalated item in this DM"
        await ctx.reply(f"Nothing to acknowledge: {what}.")
        return
    item = known[0]
    who = message.sender_name or message.sender_id or "someone"
    acked = await ctx.state.get(f"acked:{item.id}")
    if acked is None:
        acked = {"by": who, "at": event.occurred_at.isoformat()}
        await ctx.state.set(f"acked:{item.id}", acked, ttl=config.remember_days * 86400)
    await ctx.schedule.cancel(reminder_job_id(item.id))
    await ctx.chats[ADAPTER].rename_chat(message.chat_id, ack_title(item))
    await ctx.reply(f"{item.display_id} acknowledged by {acked['by']}; no more reminders.")
    ctx.log.info("%s acknowledged by %s in DM %s", item.display_id, acked["by"], message.chat_id)


def ack_title(item: WorkItem) -> str:
    return f"ACK {item.heading}"
