"""eventrooms: a GroupAlarm chatroom per started alarm (state `event:<id>`) and a daily digest in the default room.

Every call that changes something at GroupAlarm is a step (`ctx.chats`, or `ctx.step` for the default room, which
the typed client makes), so a retried handler gets the recorded result instead of acting again, and a room whose
creation's answer was lost is looked for first. The state deduplicates across events: a re-sent alarm finds its
room in `event:<id>`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from adapters.groupalarm import GroupAlarmClient, GroupAlarmProvider
from framework import ConfigError, Conflict, Context, Event, NotFound, Plugin

from .alarm import AlarmStarted, StartedAlarm, digest_text
from .config import EventroomsConfig

__all__ = ["ADAPTER", "DIGEST_EVENT", "plugin"]

ADAPTER = "groupalarm"
"""The `[adapters.groupalarm]` table the bot talks to."""
DIGEST_EVENT = "eventrooms.digest"
"""Fired by the `[[schedules]]` entry in bot.toml."""
FIRST_DIGEST_WINDOW = timedelta(hours=24)
"""What the very first digest looks back over (later ones: since the previous digest)."""

plugin = Plugin("eventrooms", config=EventroomsConfig)
plugin.requires(ADAPTER, "create_chat", "post_message")


def _config(ctx: Context) -> EventroomsConfig:
    config = ctx.config
    return config if isinstance(config, EventroomsConfig) else EventroomsConfig()


def _groupalarm(ctx: Context) -> GroupAlarmProvider:
    provider = ctx.chats[ADAPTER]
    if not isinstance(provider, GroupAlarmProvider):
        raise ConfigError(f'eventrooms: adapter {ADAPTER!r} must have provider = "groupalarm"')
    return provider


async def _find_default_room(client: GroupAlarmClient, organization_id: int) -> int | None:
    """The id of the organization's default room, if it has one (one request)."""
    page = await client.list_all_chatrooms(organization_id)
    return next((room.id for room in page.entries if room.type == "default"), None)


@plugin.on("alarm.started", payload=AlarmStarted)
async def alarm_started(event: Event, ctx: Context) -> None:
    """Open the alarm's chatroom with its responders and post the alarm text into it, once per alarm."""
    config = _config(ctx)
    alarm = event.payload(AlarmStarted).event
    key = f"event:{alarm.id}"
    ttl = config.remember_days * 86400.0
    record: dict[str, Any] | None = await ctx.state.get(key)
    if record is None:
        name = config.room_name.format(**alarm.fields())
        members = [str(user) for user in alarm.responder_ids]
        room = await _groupalarm(ctx).create_chat(name, members, organization_id=alarm.organization_id)
        record = {
            "room_id": int(room.id),
            "name": alarm.name,
            "organization_id": alarm.organization_id,
            "started_at": event.occurred_at.isoformat(),
            "posted": False,
        }
        # Saved before the post: a re-sent alarm uses this room even when this event fails from here on.
        await ctx.state.set(key, record, ttl=ttl)
        ctx.log.info("alarm %s: room %s created", alarm.id, room.id)
    if not record["posted"]:
        if alarm.text:
            await _groupalarm(ctx).post_message(record["room_id"], config.message.format(**alarm.fields()))
        record["posted"] = True
        await ctx.state.set(key, record, ttl=ttl)


async def _default_room(ctx: Context, organization_id: int) -> int:
    """The organization's default room: remembered, else created (`POST /chatroom/default/{org}`) as a step;
    when it exists already (409), or a retry finds the create's answer was lost, it is found in
    `GET /chatrooms?all=true`."""
    key = f"default_room:{organization_id}"
    cached = await ctx.state.get(key)
    if cached is not None:
        return int(cached)
    client = _groupalarm(ctx).client

    async def find(_since: datetime | None = None) -> int | None:
        # An organization has one default room, so whenever it was made it is the one.
        return await _find_default_room(client, organization_id)

    async def create(organization: int) -> int:
        try:
            return (await client.create_default_chatroom(organization)).id
        except Conflict:
            found = await find()
            if found is None:
                raise
            return found

    room_id = int(await ctx.step(f"{ADAPTER}.default_room", create, organization_id, reconcile=find))
    await ctx.state.set(key, room_id)
    return room_id


async def _post_to_default_room(ctx: Context, organization_id: int, text: str) -> None:
    provider = _groupalarm(ctx)
    room_id = await _default_room(ctx, organization_id)
    try:
        await provider.post_message(room_id, text)
    except NotFound:  # the remembered room was removed: find or create it again
        await ctx.state.delete(f"default_room:{organization_id}")
        await provider.post_message(await _default_room(ctx, organization_id), text)


async def _remembered_between(ctx: Context, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """The alarms of the state (`event:<id>`) started in (since, until], as JSON."""
    alarms = []
    for key in await ctx.state.keys("event:"):
        record = await ctx.state.get(key)
        if record is not None and since < datetime.fromisoformat(record["started_at"]) <= until:
            alarms.append({**record, "id": int(key.removeprefix("event:"))})
    return alarms


async def _started_between(ctx: Context, since: datetime, until: datetime) -> list[StartedAlarm]:
    """The alarms started in (since, until], read once per digest fire: the list is a step, so a retried digest
    posts the same texts (the journal answers those posted before) even when an alarm handled late was remembered
    in between."""

    async def read(start: datetime, end: datetime) -> list[dict[str, Any]]:
        return await _remembered_between(ctx, start, end)

    async def read_again(_: datetime) -> list[dict[str, Any]]:
        # A list whose record was lost (a crash) is read again: harmless, unlike repeating an effect.
        return await read(since, until)

    rows = await ctx.step("alarms_started", read, since, until, reconcile=read_again)
    return [
        StartedAlarm(
            id=int(row["id"]),
            name=str(row["name"]),
            organization_id=int(row["organization_id"]),
            room_id=int(row["room_id"]),
            started_at=datetime.fromisoformat(row["started_at"]),
        )
        for row in rows
    ]


@plugin.on(DIGEST_EVENT)
async def daily_digest(event: Event, ctx: Context) -> None:
    """Post the alarms started since the previous digest to each organization's default room, once per fire."""
    config = _config(ctx)
    until = event.occurred_at  # the planned fire time
    last = await ctx.state.get("digest:last")
    since = datetime.fromisoformat(last) if last is not None else until - FIRST_DIGEST_WINDOW
    if since >= until:
        return
    by_organization: dict[int, list[StartedAlarm]] = defaultdict(list)
    for alarm in await _started_between(ctx, since, until):
        by_organization[alarm.organization_id].append(alarm)
    if not by_organization and config.post_empty_digest:
        by_organization[_groupalarm(ctx).organization_id] = []
    for organization_id, alarms in sorted(by_organization.items()):
        await _post_to_default_room(
            ctx, organization_id, digest_text(config, organization_id, alarms, since, until)
        )
    await ctx.state.set("digest:last", until.isoformat())
