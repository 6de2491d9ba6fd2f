"""eventrooms: a GroupAlarm chatroom per started alarm (state `event:<id>`) and a daily digest in the default room."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from adapters.groupalarm import Chatroom, GroupAlarmClient, GroupAlarmProvider
from framework import ConfigError, Conflict, Context, Event, NotFound, Plugin, ProviderError

from .alarm import Alarm, InvalidAlarm, StartedAlarm, digest_text, parse_alarm
from .config import EventroomsConfig

__all__ = ["ADAPTER", "DIGEST_EVENT", "plugin"]

ADAPTER = "groupalarm"
"""The `[adapters.groupalarm]` table the bot talks to."""
DIGEST_EVENT = "eventrooms.digest"
"""Fired by the `[[schedules]]` entry in bot.toml."""
PENDING_TTL = 24 * 3600.0
DIGEST_MEMORY = 7 * 24 * 3600.0
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


def _is_client_error(error: ProviderError) -> bool:
    """A 4xx answer: the provider refused, so it surely did not act."""
    return 400 <= error.status < 500


async def _find_room(client: GroupAlarmClient, organization_id: int, *, name: str | None) -> Chatroom | None:
    """The organization's custom room named `name`, or its default room when `name` is None (one request)."""
    page = await client.list_all_chatrooms(organization_id)
    if name is None:
        return next((room for room in page.entries if room.type == "default"), None)
    return next((room for room in page.entries if room.type == "custom" and room.name == name), None)


async def _create_room(ctx: Context, alarm: Alarm, name: str) -> int:
    """Create the alarm's room once, also when an earlier try's answer was lost (then it is found by name)."""
    provider = _groupalarm(ctx)
    pending_key = f"creating:{alarm.id}"
    if await ctx.state.get(pending_key) is not None:
        found = await _find_room(provider.client, alarm.organization_id, name=name)
        if found is not None:
            return found.id
    await ctx.state.set(pending_key, name, ttl=PENDING_TTL)
    members = [str(user) for user in alarm.responder_ids]
    try:
        chat = await provider.create_chat(name, members, organization_id=alarm.organization_id)
    except ProviderError as error:
        if not _is_client_error(error):
            found = await _find_room(provider.client, alarm.organization_id, name=name)
            if found is not None:
                ctx.log.warning(
                    "alarm %s: create failed (%s) but room %s exists; using it", alarm.id, error, found.id
                )
                return found.id
        await ctx.state.delete(pending_key)
        raise
    return int(chat.id)


@plugin.on("alarm.started")
async def alarm_started(event: Event, ctx: Context) -> None:
    """Open the alarm's chatroom with its responders and post the alarm text into it, once per alarm."""
    config = _config(ctx)
    try:
        alarm = parse_alarm(event.data)
    except InvalidAlarm as error:
        raise InvalidAlarm(f"{event.type}: {error}") from None
    key = f"event:{alarm.id}"
    ttl = config.remember_days * 86400.0
    record: dict[str, Any] | None = await ctx.state.get(key)
    if record is None:
        name = config.room_name.format(**alarm.fields())
        room_id = await _create_room(ctx, alarm, name)
        record = {
            "room_id": room_id,
            "name": alarm.name,
            "organization_id": alarm.organization_id,
            "started_at": event.occurred_at.isoformat(),
            "posted": False,
        }
        await ctx.state.set(key, record, ttl=ttl)
        await ctx.state.delete(f"creating:{alarm.id}")
        ctx.log.info("alarm %s: room %s created", alarm.id, room_id)
    if not record["posted"]:
        if alarm.text:
            await _groupalarm(ctx).post_message(record["room_id"], config.message.format(**alarm.fields()))
        record["posted"] = True
        await ctx.state.set(key, record, ttl=ttl)


async def _default_room(ctx: Context, organization_id: int) -> int:
    """The organization's default room: remembered, else created (`POST /chatroom/default/{org}`); when it
    exists already (409) or the answer was lost, it is found in `GET /chatrooms?all=true`."""
    key = f"default_room:{organization_id}"
    cached = await ctx.state.get(key)
    if cached is not None:
        return int(cached)
    client = _groupalarm(ctx).client
    try:
        room = await client.create_default_chatroom(organization_id)
    except ProviderError as error:
        if _is_client_error(error) and not isinstance(error, Conflict):
            raise
        found = await _find_room(client, organization_id, name=None)
        if found is None:
            raise
        room = found
    await ctx.state.set(key, room.id)
    return room.id


async def _post_to_default_room(ctx: Context, organization_id: int, text: str) -> None:
    provider = _groupalarm(ctx)
    room_id = await _default_room(ctx, organization_id)
    try:
        await provider.post_message(room_id, text)
    except NotFound:  # the remembered room was removed: find or create it again
        await ctx.state.delete(f"default_room:{organization_id}")
        await provider.post_message(await _default_room(ctx, organization_id), text)


async def _started_between(ctx: Context, since: datetime, until: datetime) -> list[StartedAlarm]:
    alarms = []
    for key in await ctx.state.keys("event:"):
        record = await ctx.state.get(key)
        if record is None:
            continue
        started_at = datetime.fromisoformat(record["started_at"])
        if since < started_at <= until:
            alarms.append(
                StartedAlarm(
                    id=int(key.removeprefix("event:")),
                    name=str(record["name"]),
                    organization_id=int(record["organization_id"]),
                    room_id=int(record["room_id"]),
                    started_at=started_at,
                )
            )
    return alarms


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
        done_key = f"digest:{until.isoformat()}:{organization_id}"
        if await ctx.state.get(done_key):
            continue
        text = digest_text(config, organization_id, alarms, since, until)
        await _post_to_default_room(ctx, organization_id, text)
        await ctx.state.set(done_key, True, ttl=DIGEST_MEMORY)
    await ctx.state.set("digest:last", until.isoformat())
