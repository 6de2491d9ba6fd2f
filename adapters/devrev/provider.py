"""The unified chat API (framework.chats) on DevRev: config, the provider class and its factory."""

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
from framework.errors import ConfigError, NotFound, Unsupported
from framework.messages import ChatMessage, Intake, Polled

from .client import DEFAULT_BASE_URL, PROVIDER, DevRevClient
from .models import DevRevChat, TimelineEntry, UserSummary, make_converter

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
    """The dev user the token acts as (its id or `DEVU-N`); when set, find_message takes only its comments, and
    its comments are not delivered as chat messages (without it no chat message is: the bot would hear itself)."""


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
    intake: frozenset[Intake] = frozenset({Intake.PUSH, Intake.POLL})

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
        self._converter = make_converter()

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
        refuse_unknown(PROVIDER, "create_chat", options, CREATE_OPTIONS)
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

    @property
    def own_id(self) -> str | None:
        """The dev user the token acts as (`user_id`), whose comments are the bot's own."""
        return self.user_id

    def is_own(self, message: ChatMessage) -> bool:
        """Whether the bot wrote `message`; without `user_id` every message counts as its own (none is
        delivered), since the bot could not tell its replies from people's."""
        if self.user_id is None:
            return True
        raw = message.raw if isinstance(message.raw, dict) else {}
        author = raw.get("created_by")
        display_id = author.get("display_id") if isinstance(author, dict) else None
        return self.user_id in (message.sender_id, display_id)

    def inbound(self, entry: TimelineEntry) -> ChatMessage | None:
        """The chat message a timeline entry is: a text comment on a DM; None for anything else."""
        chat = entry.object
        if entry.type != "timeline_comment" or not chat or not _is_dm(entry):
            return None
        author = entry.created_by
        return ChatMessage(
            provider=PROVIDER,
            adapter=self.name,
            chat_id=chat,
            message_id=entry.id,
            sender_id=None if author is None else author.id,
            sender_name=None if author is None else (author.full_name or author.display_name),
            text=entry.body or "",
            sent_at=entry.created_date,
            raw=raw_json(entry),
        )

    def webhook_message(self, body: dict[str, Any]) -> ChatMessage | None:
        """The chat message of a `timeline_entry_created` delivery `{..., timeline_entry_created: {entry}}`."""
        if body.get("type") != "timeline_entry_created":
            return None
        created = body.get("timeline_entry_created")
        entry = created.get("entry") if isinstance(created, dict) else None
        if not isinstance(entry, dict):
            return None
        try:
            return self.inbound(self._converter.structure(entry, TimelineEntry))
        except Exception as error:  # a body we cannot read stays an ordinary event
            log.info("%s: a timeline_entry_created body is not a timeline entry: %s", self.name, error)
            return None

    async def poll_messages(self, chat_id: str, cursor: str | None) -> Polled:
        """The chat's comments after `cursor`, following `timeline-entries.list`'s forward `next_cursor`.

        The cursor is `<entries seen on the page>|<that page's cursor>`: a poll re-reads the last page it
        reached (one request when nothing much happened) and takes what lies past the entries already seen.
        """
        seen, page_cursor = _devrev_cursor(cursor)
        found: list[ChatMessage] = []
        while True:
            page = await self.client.list_timeline_entries(chat_id, cursor=page_cursor, limit=self.page_size)
            entries = page.timeline_entries
            found += [m for entry in entries[seen:] if (m := self.inbound(entry)) is not None]
            if not page.next_cursor or page.next_cursor == page_cursor:
                seen = max(seen, len(entries))
                break
            page_cursor, seen = page.next_cursor, 0
        return Polled(found, f"{seen}|{page_cursor or ''}")

    async def latest_cursor(self, chat_id: str) -> str | None:
        """The cursor of a chat watched from now on: the end of its timeline (read through to the last page)."""
        return (await self.poll_messages(chat_id, None)).cursor

    async def find_chat(
        self, name: str | None, members: Iterable[str | int], since: datetime, **options: Any
    ) -> Chat | None:
        """The DM among exactly `members`, titled `name` (any title when None), made at or after `since`.

        One request, `POST /chats.get {type: "dm", users}`, which answers the default DM of those users (404
        when there is none). A DM made with `is_default=False` cannot be found that way: `Unsupported`.
        """
        refuse_unknown(PROVIDER, "find_chat", options, CREATE_OPTIONS)
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


def _is_dm(entry: TimelineEntry) -> bool:
    return entry.object_type == "dm" or ":dm/" in (entry.object or "")


def _devrev_cursor(cursor: str | None) -> tuple[int, str | None]:
    if not cursor:
        return 0, None
    seen, _, page = cursor.partition("|")
    return int(seen), page or None


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
