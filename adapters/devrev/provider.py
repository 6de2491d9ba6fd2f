"""The unified chat API (framework.chats) on DevRev: config, the provider class and its factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import attrs

from adapters.readback import MAX_ITEMS, cutoff, undecided
from framework.adapter_registry import AdapterConfig
from framework.chats import Capability, Chat, Message, member_ids
from framework.errors import ConfigError, InvalidRequest, NotFound, Unsupported

from .client import DEFAULT_BASE_URL, PROVIDER, DevRevClient
from .models import DevRevChat, TimelineEntry, UserSummary

__all__ = ["CREATE_OPTIONS", "DevRevConfig", "DevRevProvider", "build_provider", "to_chat", "to_message"]

log = logging.getLogger("chatwright.adapters.devrev")

CREATE_OPTIONS = frozenset({"get_if_conflict", "is_default", "records"})
"""`create_chat(**options)` passed through to `chats.create`."""
TIMESTAMP_RESOLUTION = timedelta(milliseconds=1)
"""DevRev's dates carry milliseconds (`2023-01-01T12:00:00.000Z`)."""


@attrs.frozen(kw_only=True)
class DevRevConfig(AdapterConfig):
    """`[adapters.NAME]` with `provider = "devrev"`: the token (a PAT or service account token) and tuning."""

    provider: str = PROVIDER
    base_url: str = DEFAULT_BASE_URL
    token: str = attrs.field(repr=False)
    api_version: str | None = None
    """Sent as `X-Devrev-Version` when set; DevRev's default version otherwise."""
    page_size: int | None = None
    """`limit` sent when paging through messages; None leaves DevRev's default (50)."""
    user_id: str | None = None
    """The dev user the token acts as (its id or `DEVU-N`); when set, find_message takes only its comments."""


def to_chat(chat: DevRevChat) -> Chat:
    """A DevRev chat in the unified form: its DON id, title and member (user) ids."""
    return Chat(
        provider=PROVIDER,
        id=chat.id,
        name=chat.title,
        members=chat.user_ids,
        created_at=chat.created_date,
        raw=chat,
    )


def to_message(chat_id: str, entry: TimelineEntry) -> Message:
    return Message(
        provider=PROVIDER,
        chat_id=chat_id,
        id=entry.id,
        text=entry.body or "",
        sent_at=entry.created_date,
        raw=entry,
    )


class DevRevProvider:
    """DevRev DMs through the unified API; `client` reaches the rest (records, visibility, DM by users).

    DevRev has no endpoint to list chats or delete one: those raise `Unsupported`.
    """

    capabilities: frozenset[Capability] = frozenset(Capability) - {
        Capability.LIST_CHATS,
        Capability.DELETE_CHAT,
    }
    readback: frozenset[Capability] = frozenset({Capability.CREATE_CHAT, Capability.POST_MESSAGE})

    def __init__(
        self,
        client: DevRevClient,
        *,
        name: str = PROVIDER,
        page_size: int | None = None,
        user_id: str | None = None,
    ) -> None:
        if page_size is not None and (
            isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1
        ):
            raise ValueError(f"page_size must be a positive integer, got {page_size!r}")
        self.name = name
        self.client = client
        self.page_size = page_size
        self.user_id = user_id

    @classmethod
    def from_config(
        cls, config: DevRevConfig, *, name: str = PROVIDER, session: aiohttp.ClientSession | None = None
    ) -> DevRevProvider:
        client = DevRevClient(
            token=config.token,
            base_url=config.base_url,
            settings=config.http_settings(),
            api_version=config.api_version,
            session=session,
        )
        return cls(client, name=name, page_size=config.page_size, user_id=config.user_id)

    async def close(self) -> None:
        await self.client.close()

    async def create_chat(self, name: str | None, members: Iterable[str | int], **options: Any) -> Chat:
        """`POST /chats.create {type: "dm", users, title}`; options: get_if_conflict, is_default, records."""
        _refuse_unknown("create_chat", options)
        chat = await self.client.create_chat(
            member_ids(members),
            title=name,
            get_if_conflict=options.get("get_if_conflict"),
            is_default=options.get("is_default"),
            records=options.get("records"),
        )
        log.debug("%s: opened DM %s with %d users", self.name, chat.id, len(chat.users))
        return to_chat(chat)

    async def rename_chat(self, chat_id: str | int, name: str) -> Chat:
        """`POST /chats.update {id, title}`."""
        chat = await self.client.update_chat(chat_id, title=name)
        if chat is None:
            return Chat(provider=PROVIDER, id=str(chat_id), name=name)
        return to_chat(chat)

    async def set_members(self, chat_id: str | int, members: Iterable[str | int]) -> Chat:
        """`POST /chats.update {id, users: {set: [...]}}`: the new members replace the old ones."""
        users = member_ids(members)
        chat = await self.client.update_chat(chat_id, users=users)
        if chat is None:
            return Chat(provider=PROVIDER, id=str(chat_id), members=users)
        return to_chat(chat)

    async def post_message(self, chat_id: str | int, text: str) -> Message:
        """`POST /timeline-entries.create {type: "timeline_comment", object, body, body_type: "text"}`."""
        entry = await self.client.create_timeline_comment(chat_id, text)
        log.debug("%s: posted to %s (%s)", self.name, chat_id, entry.id if entry else "no body answered")
        if entry is None:
            return Message(provider=PROVIDER, chat_id=str(chat_id), text=text)
        return to_message(str(chat_id), entry)

    async def get_chat(self, chat_id: str | int) -> Chat:
        """`GET /chats.get?id=`."""
        return to_chat(await self.client.get_chat(chat_id))

    def list_chats(self) -> AsyncIterator[Chat]:
        raise Unsupported(PROVIDER, "list_chats", "DevRev has no chats.list endpoint")

    async def list_messages(self, chat_id: str | int) -> AsyncIterator[Message]:
        """The chat's comments in DevRev's order, following `timeline-entries.list`'s `next_cursor`."""
        chat = str(chat_id)
        async for entry in self.client.iter_timeline_entries(chat, limit=self.page_size):
            if entry.type == "timeline_comment":
                yield to_message(chat, entry)

    async def delete_chat(self, chat_id: str | int) -> None:
        raise Unsupported(PROVIDER, "delete_chat", "DevRev has no chats.delete endpoint")

    async def find_chat(
        self, name: str | None, members: Iterable[str | int], since: datetime, **options: Any
    ) -> Chat | None:
        """The DM among exactly `members`, titled `name` (any title when None), made at or after `since`.

        One request, `POST /chats.get {type: "dm", users}`, which answers the default DM of those users (404
        when there is none). A DM made with `is_default=False` cannot be found that way: `Unsupported`.
        """
        _refuse_unknown("find_chat", options)
        if options.get("is_default") is False:
            raise Unsupported(
                PROVIDER, "find_chat", "DevRev finds a DM by its users only when it is their default DM"
            )
        users = member_ids(members)
        floor = cutoff(since, TIMESTAMP_RESOLUTION)
        try:
            chat = await self.client.get_dm(users)
        except NotFound:
            return None
        if chat.created_date is None or chat.created_date < floor:
            return None
        if name is not None and chat.title != name:
            return None
        return to_chat(chat) if _same_users(chat.users, users) else None

    async def find_message(self, chat_id: str, text: str, since: datetime) -> Message | None:
        """The text comment with `text` posted on the chat at or after `since`, by `user_id` when it is set.

        Follows `POST /timeline-entries.list {object, cursor, limit}` through at most MAX_ITEMS entries:
        DevRev documents no order and only a forward cursor (the emulator lists oldest first), so no page can
        be skipped and none ends the search early. Past MAX_ITEMS entries it cannot tell and raises
        `Unsupported`.
        """
        floor = cutoff(since, TIMESTAMP_RESOLUTION)
        chat = str(chat_id)
        scanned = 0
        cursor: str | None = None
        while True:
            page = await self.client.list_timeline_entries(chat, cursor=cursor, limit=self.page_size)
            found = next((entry for entry in page.timeline_entries if self._posted(entry, text, floor)), None)
            if found is not None:
                return to_message(chat, found)
            scanned += len(page.timeline_entries)
            if not page.next_cursor or page.next_cursor == cursor:
                return None
            if scanned >= MAX_ITEMS:
                why = f"not among the first {scanned} timeline entries of {chat}, and more are listed"
                raise undecided(log, PROVIDER, "find_message", why)
            cursor = page.next_cursor

    def _posted(self, entry: TimelineEntry, text: str, floor: datetime) -> bool:
        return (
            entry.type == "timeline_comment"
            and entry.body == text
            and entry.body_type in (None, "text")
            and entry.created_date is not None
            and entry.created_date >= floor
            and (self.user_id is None or _same_users((entry.created_by,), (self.user_id,)))
        )


def _refuse_unknown(operation: str, options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - CREATE_OPTIONS)
    if unknown:
        why = f"unknown option; DevRev takes {', '.join(sorted(CREATE_OPTIONS))}"
        raise InvalidRequest(
            f"{operation}: unknown options {', '.join(unknown)}",
            field_errors={option: [why] for option in unknown},
            provider=PROVIDER,
        )


def _same_users(users: Iterable[UserSummary | None], ids: Iterable[str]) -> bool:
    """Whether `users` are exactly the users `ids` name, each by its id or its display id (`DEVU-2`)."""
    wanted = set(ids)
    named = [wanted & {user.id, user.display_id} if user else set() for user in users]
    return all(named) and set().union(*named) == wanted


def build_provider(name: str, config: DevRevConfig) -> DevRevProvider:
    """The AdapterSpec factory: a provider named as configured (`[adapters.NAME]`)."""
    if not config.token:
        raise ConfigError(f"adapters.{name}.token: empty; set it to a DevRev personal access token")
    return DevRevProvider.from_config(config, name=name)
