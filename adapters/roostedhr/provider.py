"""The unified chat API (framework.chats) on RoostedHR: config, the provider class and its factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import attrs

from adapters.inbound import raw_json
from adapters.options import refuse_unknown
from adapters.readback import MAX_ITEMS, cutoff, undecided
from framework.adapter_registry import AdapterConfig
from framework.chats import Capability, Chat, Message, member_ids
from framework.errors import ConfigError, Unsupported
from framework.http import HttpSettings
from framework.messages import ChatMessage, Intake, Polled

from .client import DEFAULT_BASE_URL, PROVIDER, RoostedHRClient
from .models import RoostedChat, RoostedMessage

__all__ = ["RoostedHRConfig", "RoostedHRProvider", "build_provider"]

log = logging.getLogger("chatwright.adapters.roostedhr")

DEFAULT_PAGE_SIZE = 20
"""The provider's documented default `limit` for both lists."""
READBACK_PAGE_SIZE = 100
"""`limit` of a read-back's list pages: two pages hold MAX_ITEMS."""
READBACK_MAX_FETCHES = 10
"""The most chats `find_chat` fetches one by one for their members."""
TIMESTAMP_RESOLUTION = timedelta(seconds=1)
"""The documented examples stamp whole seconds (`2023-11-07T05:31:56Z`)."""


def _worker_id(value: str | int) -> str:
    return str(value).strip()


@attrs.frozen(kw_only=True)
class RoostedHRConfig(AdapterConfig):
    """`[adapters.NAME]` with `provider = "roostedhr"`: the API key and the acting worker (int or string)."""

    provider: str = PROVIDER
    base_url: str = DEFAULT_BASE_URL
    api_key: str = attrs.field(repr=False)
    worker_id: str = attrs.field(converter=_worker_id)
    page_size: int = DEFAULT_PAGE_SIZE
    """`limit` sent when the unified API pages through chats and messages."""


def _materialise(members: Iterable[str | int]) -> Iterable[str | int]:
    """A one-shot iterator as a tuple, to validate it and read it again; a string stays (it is invalid)."""
    if isinstance(members, str | bytes) or not isinstance(members, Iterable):
        return members
    return tuple(members)


def to_chat(chat: RoostedChat) -> Chat:
    """A RoostedHR chat in the unified form; list items have no members, so `members` is () for them."""
    members = tuple(member.id for member in chat.members or ())
    return Chat(
        provider=PROVIDER, id=chat.id, name=chat.name, members=members, created_at=chat.date_created, raw=chat
    )


def to_message(chat_id: str, message: RoostedMessage) -> Message:
    return Message(
        provider=PROVIDER,
        chat_id=chat_id,
        id=message.id,
        text=message.message,
        sent_at=message.date_created,
        raw=message,
    )


class RoostedHRProvider:
    """RoostedHR through the unified API; `client` reaches the rest (search_term, all_chats)."""

    capabilities: frozenset[Capability] = frozenset(Capability) - {Capability.DELETE_CHAT}
    readback: frozenset[Capability] = frozenset({Capability.CREATE_CHAT, Capability.POST_MESSAGE})
    intake: frozenset[Intake] = frozenset({Intake.POLL})

    def __init__(
        self, client: RoostedHRClient, *, name: str = PROVIDER, page_size: int = DEFAULT_PAGE_SIZE
    ) -> None:
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size must be a positive integer, got {page_size!r}")
        self.name = name
        self.client = client
        self.page_size = page_size

    async def close(self) -> None:
        await self.client.close()

    async def create_chat(self, name: str | None, members: Iterable[str | int], **options: Any) -> Chat:
        """`POST /workers/{id}/chats`; without a name RoostedHR names the chat after its members."""
        refuse_unknown(PROVIDER, "create_chat", options, ())
        chat = await self.client.create_chat(_materialise(members), name=name)
        log.info("roostedhr: created chat %s", chat.id)
        return to_chat(chat)

    async def rename_chat(self, chat_id: str | int, name: str) -> Chat:
        """`PATCH /workers/{id}/chats/{chat_id}` `{name}` (safe to repeat)."""
        chat = await self.client.update_chat(chat_id, name=name)
        if chat is None:
            return Chat(provider=PROVIDER, id=str(chat_id), name=name)
        return to_chat(chat)

    async def set_members(self, chat_id: str | int, members: Iterable[str | int]) -> Chat:
        """`PATCH /workers/{id}/chats/{chat_id}` `{members}`: replaces the member list (safe to repeat)."""
        given = _materialise(members)
        chat = await self.client.update_chat(chat_id, members=given)
        if chat is None:
            return Chat(provider=PROVIDER, id=str(chat_id), members=member_ids(given))
        return to_chat(chat)

    async def post_message(self, chat_id: str | int, text: str) -> Message:
        """`POST /workers/{id}/chats/{chat_id}/messages` `{message}` (not retried once it may have landed)."""
        message = await self.client.post_message(chat_id, text)
        if message is None:
            return Message(provider=PROVIDER, chat_id=str(chat_id), text=text)
        return to_message(str(chat_id), message)

    async def get_chat(self, chat_id: str | int) -> Chat:
        return to_chat(await self.client.get_chat(chat_id))

    async def list_chats(self) -> AsyncIterator[Chat]:
        """Every chat of the acting worker, page by page (`last_seen_id` = the previous page's last chat)."""
        last_seen_id: str | None = None
        while True:
            page = await self.client.list_chats(last_seen_id=last_seen_id, limit=self.page_size)
            for chat in page.chats:
                yield to_chat(chat)
            if not page.has_more or not page.chats:
                return
            last_seen_id = page.chats[-1].id

    async def list_messages(self, chat_id: str | int) -> AsyncIterator[Message]:
        """Every message of a chat, in the provider's order, page by page."""
        unified_id = str(chat_id)
        last_seen_id: str | None = None
        while True:
            page = await self.client.list_messages(chat_id, last_seen_id=last_seen_id, limit=self.page_size)
            for message in page.messages:
                yield to_message(unified_id, message)
            if not page.has_more or not page.messages:
                return
            last_seen_id = page.messages[-1].id

    async def delete_chat(self, chat_id: str | int) -> None:
        raise Unsupported(
            PROVIDER, "delete_chat", "RoostedHR documents no endpoint to delete or leave a chat"
        )

    async def find_chat(
        self, name: str | None, members: Iterable[str | int], since: datetime, **options: Any
    ) -> Chat | None:
        """The acting worker's chat named `name` (any name when None) with `members`, made since `since`.

        Pages `GET /workers/{id}/chats` (with `search_term=name` when there is a name), which lists chats by
        `chats_order`, their last activity, newest first: the first item last active before `since` ends the
        search. List items carry no members, so each candidate (its name and `date_created` match) is
        fetched with `GET .../chats/{chat_id}`. The acting worker counts as a member whether or not `members`
        names it, as in create_chat. Past MAX_ITEMS list items or READBACK_MAX_FETCHES candidates it cannot
        tell and raises `Unsupported`.
        """
        refuse_unknown(PROVIDER, "find_chat", options, ())
        floor = cutoff(since, TIMESTAMP_RESOLUTION)
        me = self.client.worker_id
        wanted = set(member_ids(_materialise(members))) - {me}
        scanned = fetched = 0
        last_seen_id: str | None = None
        while scanned < MAX_ITEMS:
            page = await self.client.list_chats(
                search_term=name, last_seen_id=last_seen_id, limit=READBACK_PAGE_SIZE
            )
            for item in page.chats:
                scanned += 1
                active = item.chats_order or item.date_created
                if active is not None and active < floor:
                    return None
                if item.date_created is None or item.date_created < floor:
                    continue
                if name is not None and item.name != name:
                    continue
                if fetched == READBACK_MAX_FETCHES:
                    why = f"none of the first {fetched} chats made since with that name has those members"
                    raise undecided(log, PROVIDER, "find_chat", why)
                fetched += 1
                chat = await self.client.get_chat(item.id)
                if {member.id for member in chat.members or ()} - {me} == wanted:
                    return to_chat(chat)
            if not page.has_more or not page.chats:
                return None
            last_seen_id = page.chats[-1].id
        why = f"not among the first {scanned} chats active since, and more are listed"
        raise undecided(log, PROVIDER, "find_chat", why)

    @property
    def own_id(self) -> str:
        """The acting worker: the bot's own messages are sent as it."""
        return self.client.worker_id

    def is_own(self, message: ChatMessage) -> bool:
        return message.sender_id == self.client.worker_id

    def inbound(self, chat_id: str, message: RoostedMessage) -> ChatMessage:
        return ChatMessage(
            provider=PROVIDER,
            adapter=self.name,
            chat_id=chat_id,
            message_id=message.id,
            sender_id=message.sender_id,
            sender_name=message.sender_name,
            text=message.message,
            sent_at=message.date_created,
            raw=raw_json(message),
        )

    async def poll_messages(self, chat_id: str, cursor: str | None) -> Polled:
        """The messages after `cursor` (the id of the newest one seen), oldest first.

        `GET .../chats/{chat_id}/messages` lists newest first and pages back with `last_seen_id`: pages are read
        until the cursor's message shows up (one request when nothing much happened), so none is skipped.
        """
        newer: list[RoostedMessage] = []
        last_seen_id: str | None = None
        while True:
            page = await self.client.list_messages(chat_id, last_seen_id=last_seen_id, limit=self.page_size)
            for message in page.messages:
                if message.id == cursor:
                    return self._polled(chat_id, newer, cursor)
                newer.append(message)
            if not page.has_more or not page.messages:
                return self._polled(chat_id, newer, cursor)
            last_seen_id = page.messages[-1].id

    async def latest_cursor(self, chat_id: str) -> str | None:
        """The cursor of a chat watched from now on: its newest message's id (one request)."""
        page = await self.client.list_messages(chat_id, limit=1)
        return page.messages[0].id if page.messages else None

    def _polled(self, chat_id: str, newest_first: list[RoostedMessage], cursor: str | None) -> Polled:
        messages = [self.inbound(chat_id, message) for message in reversed(newest_first)]
        return Polled(messages, newest_first[0].id if newest_first else cursor)

    async def find_message(self, chat_id: str, text: str, since: datetime) -> Message | None:
        """The message with `text` the acting worker sent in the chat at or after `since`.

        Pages `GET .../chats/{chat_id}/messages`, which lists messages newest first (so the emulator; the
        order is not documented): the first message older than `since` ends the search. Past MAX_ITEMS
        messages it cannot tell and raises `Unsupported`.
        """
        floor = cutoff(since, TIMESTAMP_RESOLUTION)
        unified_id = str(chat_id)
        scanned = 0
        last_seen_id: str | None = None
        while scanned < MAX_ITEMS:
            page = await self.client.list_messages(
                chat_id, last_seen_id=last_seen_id, limit=READBACK_PAGE_SIZE
            )
            for message in page.messages:
                scanned += 1
                if message.date_created is None:
                    continue
                if message.date_created < floor:
                    return None
                if message.message == text and message.sender_id == self.client.worker_id:
                    return to_message(unified_id, message)
            if not page.has_more or not page.messages:
                return None
            last_seen_id = page.messages[-1].id
        why = f"not among the first {scanned} messages of chat {unified_id} sent since, and more are listed"
        raise undecided(log, PROVIDER, "find_message", why)


def build_provider(
    name: str,
    config: RoostedHRConfig,
    *,
    settings: HttpSettings | None = None,
    session: aiohttp.ClientSession | None = None,
) -> RoostedHRProvider:
    """Build the provider from its `[adapters.NAME]` table; `settings` overrides the transport settings."""
    problems = []
    if not config.api_key.strip():
        problems.append(f"adapters.{name}.api_key: empty; set it to your RoostedHR API key")
    if not config.worker_id:
        problems.append(f"adapters.{name}.worker_id: empty; set it to the bot's own worker id")
    if config.page_size < 1:
        problems.append(f"adapters.{name}.page_size: {config.page_size}; expected a positive integer")
    if problems:
        raise ConfigError(problems)
    client = RoostedHRClient(
        api_key=config.api_key,
        worker_id=config.worker_id,
        base_url=config.base_url,
        settings=settings or config.http_settings(),
        session=session,
    )
    return RoostedHRProvider(client, name=name, page_size=config.page_size)
