"""ambassador: a Popsell one-to-one chatroom and a welcome message for each customer-ambassador match.

When the customer writes in the chatroom (polled: `chat.message`), the planned follow-up is cancelled at once.

Every call that changes something at Popsell is a step (`ctx.chats`, or `ctx.step` for a post as the matched
ambassador), so a retried handler gets the recorded result instead of acting again, and a call whose answer was
lost is looked for at Popsell first. `ctx.state["match:<id>"]` keeps the match's chatroom and whether the match is
done, so a match re-sent under another delivery id does nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs

from adapters.popsell import PopsellProvider
from adapters.popsell.models import ChatMessage
from framework import ConfigError, Context, Event, Plugin

from .config import AmbassadorConfig, FollowUp, Match, MatchCreated

__all__ = ["ADAPTER", "FOLLOW_UP_EVENT", "MatchRecord", "follow_up_job_id", "plugin"]

ADAPTER = "popsell"
"""The `[adapters.popsell]` table the bot talks to."""
FOLLOW_UP_EVENT = "ambassador.follow_up"

plugin = Plugin("ambassador", config=AmbassadorConfig)
plugin.requires(ADAPTER, "create_chat", "post_message")


@attrs.define(kw_only=True)
class MatchRecord:
    """What the bot remembers per match (`ctx.state["match:<id>"]`), as JSON: its chatroom once opened, and
    `done` once the welcome is posted and the follow-up planned."""

    chatroom_id: str | None = None
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


def _by(message: ChatMessage, author: int, text: str, since: datetime) -> bool:
    """Whether a Popsell chat message is `text` written by `author` at or after `since`."""
    return (
        message.author is not None
        and message.author.id_ambassador == author
        and message.content == text
        and message.date_insert is not None
        and message.date_insert >= since
    )


async def _post_as_ambassador(
    ctx: Context, popsell: PopsellProvider, chatroom_id: str, author: int, text: str
) -> None:
    """Post `text` as `author` through the typed client (the unified API posts as the configured sender), as a
    step: recorded once posted, and looked for in the chatroom's messages when an earlier try's answer was lost."""

    async def post(chatroom: str, ambassador: int, content: str) -> int | None:
        posted = await popsell.client.post_message(int(chatroom), id_ambassador=ambassador, content=content)
        return None if posted is None else posted.id_message

    async def find(since: datetime) -> int | None:
        async for message in popsell.client.iter_messages(int(chatroom_id)):
            if _by(message, author, text, since):
                return message.id_message
        return None

    await ctx.step(f"{ADAPTER}.post_as_ambassador", post, chatroom_id, author, text, reconcile=find)


async def _post(
    ctx: Context, popsell: PopsellProvider, config: AmbassadorConfig, chatroom_id: str, author: int, text: str
) -> None:
    if config.post_as == "sender":
        await popsell.post_message(chatroom_id, text)
    else:
        await _post_as_ambassador(ctx, popsell, chatroom_id, author, text)


@plugin.on("match.created", payload=MatchCreated)
async def open_match_chatroom(event: Event, ctx: Context) -> None:
    """Open the pair's one-to-one chatroom, post the welcome, and plan the follow-up."""
    config = _config(ctx)
    match = event.payload(MatchCreated).match
    records = _Records(ctx, match.id, config)
    record = await records.load()
    if record.done:
        ctx.log.info("match %s already has chatroom %s; nothing to do", match.id, record.chatroom_id)
        return
    popsell = _popsell(ctx)
    author = _author(config, popsell, match)
    if record.chatroom_id is None:
        chat = await popsell.create_chat(None, list(match.pair))
        ctx.log.info(
            "match %s: opened chatroom %s for ambassadors %s", match.id, chat.id, ", ".join(chat.members)
        )
        # Saved at once: a re-sent match uses this chatroom even when this event fails from here on.
        record.chatroom_id = chat.id
        await records.save(record)
        room = {"match": match.id, "customer": str(match.customer_ambassador_id)}
        await ctx.state.set(f"room:{chat.id}", room, ttl=config.remember_days * 86400)
    await _post(ctx, popsell, config, record.chatroom_id, author, match.render(config.welcome))
    ctx.log.info("match %s: welcome posted in chatroom %s", match.id, record.chatroom_id)
    if config.follow_up_after_hours > 0:
        when = event.occurred_at + timedelta(hours=config.follow_up_after_hours)
        data: dict[str, Any] = {
            "match": {
                "id": match.id,
                "customer_ambassador_id": match.customer_ambassador_id,
                "ambassador_id": match.ambassador_id,
                "customer_name": match.name,
            },
            "chatroom_id": record.chatroom_id,
        }
        await ctx.schedule.at(when, FOLLOW_UP_EVENT, data, id=follow_up_job_id(match.id))
    record.done = True
    await records.save(record)


@plugin.on(FOLLOW_UP_EVENT, payload=FollowUp)
async def follow_up(event: Event, ctx: Context) -> None:
    """Post the follow-up once, unless the customer has written in the chatroom since the match."""
    config = _config(ctx)
    follow = event.payload(FollowUp)
    match, chatroom_id = follow.match, follow.chatroom_id
    popsell = _popsell(ctx)
    author = _author(config, popsell, match)
    async for message in popsell.client.iter_messages(int(chatroom_id)):
        if message.author is not None and message.author.id_ambassador == match.customer_ambassador_id:
            ctx.log.info("match %s: the customer has written; no follow-up needed", match.id)
            return
    await _post(ctx, popsell, config, chatroom_id, author, match.render(config.follow_up))
    ctx.log.info("match %s: follow-up posted in chatroom %s", match.id, chatroom_id)


@plugin.message(adapter=ADAPTER)
async def customer_wrote(event: Event, ctx: Context) -> None:
    """The customer wrote in a match's chatroom: the follow-up is not needed any more, so it is cancelled now
    (rather than looked into when it fires); the ambassador takes the conversation from here."""
    message = ctx.message
    room = await ctx.state.get(f"room:{message.chat_id}")
    if room is None or message.sender_id != room["customer"]:
        return
    if await ctx.schedule.cancel(follow_up_job_id(room["match"])):
        ctx.log.info("match %s: the customer wrote; follow-up cancelled", room["match"])
