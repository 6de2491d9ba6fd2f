"""The unified chat API (framework.chats) on RoostedHR: config, the provider class and its factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aiohttp
import attrs

from framework.adapter_registry import AdapterConfig
from framework.chats import Capability, Chat, Message, member_ids
from framework.errors import ConfigError, InvalidRequest, Unsupported
from framework.http import HttpSettings

from .client import DEFAULT_BASE_URL, PROVIDER, RoostedHRClient
from .models import RoostedChat, RoostedMessage

__all__ = ["RoostedHRConfig", "RoostedHRProvider", "build_provider"]

log = logging.getLogger("chatwright.adapters.roostedhr")

DEFAULT_PAGE_SIZE = 20
"""The provider's documented default `limit` for both lists."""


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
        if options:
            why = "not an option of roostedhr create_chat (it takes only name and members)"
            raise InvalidRequest(
                f"unknown option(s): {', '.join(sorted(options))}",
                field_errors={option: [why] for option in options},
                provider=PROVIDER,
            )
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
