"""ambassador: a Popsell one-to-one chatroom and a welcome message for each customer-ambassador match.

What the bot has done for a match is kept in `ctx.state["match:<id>"]`, step by step, so a repeated or re-sent
match, or a retry after a partial failure, does nothing twice. Where Popsell's answer was lost (the chatroom or
the message may exist), the bot looks before it acts again, since neither call is safe to repeat blindly.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs

from adapters.popsell import PopsellProvider
from framework import (
    ConfigError,
    Context,
    Event,
    Plugin,
    ProviderError,
)
from framework.events import utcnow

from .config import AmbassadorConfig, InvalidMatch, Match, parse_match

__all__ = ["ADAPTER", "FOLLOW_UP_EVENT", "MatchRecord", "follow_up_job_id", "plugin"]

ADAPTER = "popsell"
"""The `[adapters.popsell]` table the bot talks to."""
FOLLOW_UP_EVENT = "ambassador.follow_up"
ROOM_LOOKBACK = timedelta(minutes=10)
"""A chatroom of the pair created this long before an unanswered attempt is taken as that attempt's."""
ONE_TO_ONE = 0
"""Popsell's `type_chatroom` of a one-to-one chatroom."""

plugin = Plugin("ambassador", config=AmbassadorConfig)
plugin.requires(ADAPTER, "create_chat", "post_message")


@attrs.define(kw_only=True)
class MatchRecord:
    """What the bot remembers per match (`ctx.state["match:<id>"]`), as JSON.

    `opening_since` marks a chatroom creation whose outcome is not known yet; `welcome` and `follow_up` are
    "" (not sent), "posting" (sent, outcome unknown), "posted", or for `follow_up` "not needed".
    """

    chatroom_id: str | None = None
    opening_since: str | None = None
    welcome: str = ""
    follow_up: str = ""
    done: bool = False


def follow_up_job_id(match_id: str) -> str:
    """The follow-up's schedule id: one per match."""
    return f"ambassador.follow-up:{match_id}"


class _Records:
    """Loads and saves one match's record."""

    def __init__(self, ctx: Context, match_id: str, config: AmbassadorConfig) -> None:
        self._ctx = ctx
        self._key = f"match:{match_id}"
        self._ttl = config.remember_days * 86400

    async def load(self) -> MatchRecord:
        raw = await self._ctx.state.get(self._key)
        names = {field.name for field in attrs.fields(MatchRecord)}
        return MatchRecord(**{k: v for k, v in (raw or {}).items() if k in names})

    async def save(self, record: MatchRecord) -> None:
        await self._ctx.state.set(self._key, attrs.asdict(record), ttl=self._ttl)


def _config(ctx: Context) -> AmbassadorConfig:
    return ctx.config if isinstance(ctx.config, AmbassadorConfig) else AmbassadorConfig()


def _popsell(ctx: Context) -> PopsellProvider:
    provider = ctx.chats[ADAPTER]
    if not isinstance(provider, PopsellProvider):
        raise ConfigError(
            f'adapters.{ADAPTER}: the ambassador bot needs a Popsell adapter (provider = "popsell")'
        )
    return provider


def _author(config: AmbassadorConfig, popsell: PopsellProvider, match: Match) -> int:
    """Who posts in the match's chatroom; Popsell refuses a message from someone outside the room."""
    if config.post_as == "ambassador":
        return match.ambassador_id
    sender = popsell.config.sender_ambassador_id
    if sender not in match.pair:
        raise ConfigError(
            f"match {match.id}: the sender ambassador {sender} (adapters.{ADAPTER}.sender_ambassador_id) is not"
            f" one of the pair {match.pair[0]} and {match.pair[1]}, so Popsell would refuse its message; set"
            ' plugins.ambassador.post_as = "ambassador" to post as the matched ambassador'
        )
    return sender


async def _recent_room(popsell: PopsellProvider, match: Match, since: datetime) -> str | None:
    """The newest one-to-one chatroom of the pair created since `since` (less the lookback), if any."""
    candidates: list[tuple[datetime, int]] = []
    async for room in popsell.client.iter_ambassador_chatrooms(
        match.customer_ambassador_id, type_chatroom=ONE_TO_ONE
    ):
        members = {ambassador.id_ambassador for ambassador in room.ambassadors}
        created = room.date_insert
        if members == set(match.pair) and created is not None and created >= since - ROOM_LOOKBACK:
            candidates.append((created, room.id_chatroom))
    return str(max(candidates)[1]) if candidates else None


async def _posted_before(popsell: PopsellProvider, chatroom_id: str, author: int, text: str) -> bool:
    """Whether `author` already wrote exactly `text` in the chatroom (an earlier attempt whose answer was lost)."""
    async for message in popsell.client.iter_messages(int(chatroom_id)):
        if message.author is not None and message.author.id_ambassador == author and message.content == text:
            return True
    return False


async def _open_chatroom(
    ctx: Context, popsell: PopsellProvider, match: Match, record: MatchRecord, records: _Records
) -> str:
    if record.opening_since is not None:
        reused = await _recent_room(popsell, match, datetime.fromisoformat(record.opening_since))
        if reused is not None:
            ctx.log.info("match %s: reusing chatroom %s from an earlier attempt", match.id, reused)
            return reused
    record.opening_since = utcnow().isoformat()
    await records.save(record)
    try:
        chat = await popsell.create_chat(None, list(match.pair))
    except ProviderError as error:
        reused = await _recent_room(popsell, match, utcnow()) if error.may_have_acted else None
        if reused is None:
            raise
        ctx.log.info("match %s: Popsell's answer was lost, but chatroom %s exists", match.id, reused)
        return reused
    ctx.log.info(
        "match %s: opened chatroom %s for ambassadors %s", match.id, chat.id, ", ".join(chat.members)
    )
    return chat.id


async def _post_once(
    ctx: Context,
    popsell: PopsellProvider,
    config: AmbassadorConfig,
    chatroom_id: str,
    author: int,
    text: str,
    *,
    unsure: bool,
) -> None:
    """Post `text` as `author`, unless `unsure` (an earlier attempt sent it) and it is already there."""
    if unsure and await _posted_before(popsell, chatroom_id, author, text):
        ctx.log.info(
            "chatroom %s: the message of an earlier attempt is there; not posting it again", chatroom_id
        )
        return
    try:
        if config.post_as == "sender":
            await popsell.post_message(chatroom_id, text)
        else:
            await popsell.client.post_message(int(chatroom_id), id_ambassador=author, content=text)
    except ProviderError as error:
        if not error.may_have_acted or not await _posted_before(popsell, chatroom_id, author, text):
            raise


@plugin.on("match.created")
async def open_match_chatroom(event: Event, ctx: Context) -> None:
    """Open the pair's one-to-one chatroom, post the welcome, and plan the follow-up."""
    config = _config(ctx)
    try:
        match = parse_match(event.data)
    except InvalidMatch as error:
        ctx.log.warning("ignoring %s: %s", event.type, error)
        return
    records = _Records(ctx, match.id, config)
    record = await records.load()
    if record.done:
        ctx.log.info("match %s already has chatroom %s; nothing to do", match.id, record.chatroom_id)
        return
    popsell = _popsell(ctx)
    author = _author(config, popsell, match)
    if record.chatroom_id is None:
        record.chatroom_id = await _open_chatroom(ctx, popsell, match, record, records)
        record.opening_since = None
        await records.save(record)
    if record.welcome != "posted":
        unsure = record.welcome == "posting"
        record.welcome = "posting"
        await records.save(record)
        await _post_once(
            ctx, popsell, config, record.chatroom_id, author, match.render(config.welcome), unsure=unsure
        )
        ctx.log.info("match %s: welcome posted in chatroom %s", match.id, record.chatroom_id)
        record.welcome = "posted"
        await records.save(record)
    if config.follow_up_after_hours > 0:
        when = event.occurred_at + timedelta(hours=config.follow_up_after_hours)
        data: dict[str, Any] = {
            "match": {
                "id": match.id,
                "customer_ambassador_id": match.customer_ambassador_id,
                "ambassador_id": match.ambassador_id,
                "customer_name": match.customer_name,
            },
            "chatroom_id": record.chatroom_id,
        }
        await ctx.schedule.at(when, FOLLOW_UP_EVENT, data, id=follow_up_job_id(match.id))
    record.done = True
    await records.save(record)


@plugin.on(FOLLOW_UP_EVENT)
async def follow_up(event: Event, ctx: Context) -> None:
    """Post the follow-up once, unless the customer has written in the chatroom since the match."""
    config = _config(ctx)
    match = parse_match(event.data)
    chatroom_id = str(event.data["chatroom_id"])
    records = _Records(ctx, match.id, config)
    record = await records.load()
    if record.follow_up in ("posted", "not needed"):
        return
    popsell = _popsell(ctx)
    author = _author(config, popsell, match)
    async for message in popsell.client.iter_messages(int(chatroom_id)):
        if message.author is not None and message.author.id_ambassador == match.customer_ambassador_id:
            ctx.log.info("match %s: the customer has written; no follow-up needed", match.id)
            record.follow_up = "not needed"
            await records.save(record)
            return
    unsure = record.follow_up == "posting"
    record.follow_up = "posting"
    await records.save(record)
    await _post_once(ctx, popsell, config, chatroom_id, author, match.render(config.follow_up), unsure=unsure)
    ctx.log.info("match %s: follow-up posted in chatroom %s", match.id, chatroom_id)
    record.follow_up = "posted"
    await records.save(record)
