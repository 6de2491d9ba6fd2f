"""The unified chat API (framework.chats.ChatProvider) on Popsell API v2, and the config table it reads."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import attrs

from adapters.inbound import raw_json
from adapters.options import refuse_unknown
from adapters.popsell.client import PROVIDER, SOURCES, PopsellClient
from adapters.popsell.models import TYPE_CHATROOM_ONE_TO_ONE, TYPE_MESSAGE_TEXT, ChatMessage, Chatroom, Page
from adapters.readback import MAX_ITEMS, cutoff, undecided
from framework.adapter_registry import AdapterConfig
from framework.chats import Capability, Chat, Message
from framework.errors import ConfigError, InvalidRequest, Unsupported
from framework.messages import ChatMessage as InboundMessage
from framework.messages import Intake, Polled

__all__ = ["PopsellConfig", "PopsellProvider", "build"]

log = logging.getLogger("chatwright.adapters.popsell")

_FIXED_ROOM = "a Popsell chatroom's name and members are fixed once it is created"
CREATE_OPTIONS = frozenset({"id_brand_tag", "source"})
TIMESTAMP_RESOLUTION = timedelta(milliseconds=1)
"""`date_insert` has six fractional digits, but the documented examples fill only three."""

T = TypeVar("T")


def _config_int(value: str | int) -> int:
    """Ids in config may be TOML ints or strings; Popsell wants ints."""
    if isinstance(value, bool):
        raise ValueError(f"expected an integer id, got {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.lstrip("-").isdigit():
        raise ValueError(f"expected an integer id, got {value!r}")
    return int(text)


@attrs.frozen(kw_only=True)
class PopsellConfig(AdapterConfig):
    """`[adapters.x]` with `provider = "popsell"`; `base_url` is `https://<tenant-domain>/api/v2`."""

    domain: str
    """The tenant domain sent as `X-Popsell-Domain` when fetching a token."""
    api_key: str = attrs.field(repr=False)
    brand_id: int = attrs.field(converter=_config_int)
    """Sent as `X-Popsell-Brand` on every call."""
    sender_ambassador_id: int = attrs.field(converter=_config_int)
    """The ambassador the bot posts as, and whose chatrooms `list_chats` lists."""
    source: int = attrs.field(default=0, converter=_config_int, validator=attrs.validators.in_(SOURCES))
    """Default `source` of new chatrooms: 0 direct, 1 waiting list, 2 hot list."""


def _popsell_cursor(cursor: str | None) -> tuple[int, int]:
    """(page, last id) of a poll cursor; a chatroom never polled starts at page 1 before any id."""
    if cursor is None:
        return 1, -1
    page, _, last = cursor.partition(":")
    return int(page), int(last)


def _provider_int(value: object, field: str) -> int:
    if isinstance(value, bool):
        raise InvalidRequest(
            f"{field}: expected an integer id, got {value!r}",
            field_errors={field: [f"expected an integer id, got {value!r}"]},
            provider=PROVIDER,
        )
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    why = f"expected an integer id (as an int or a numeric string), got {value!r}"
    raise InvalidRequest(f"{field}: {why}", field_errors={field: [why]}, provider=PROVIDER)


class PopsellProvider:
    """Popsell chatrooms through the unified API: create, get, list, post, read messages; no rename/delete."""

    capabilities = frozenset(
        {
            Capability.CREATE_CHAT,
            Capability.POST_MESSAGE,
            Capability.GET_CHAT,
            Capability.LIST_CHATS,
            Capability.LIST_MESSAGES,
        }
    )
    readback = frozenset({Capability.CREATE_CHAT, Capability.POST_MESSAGE})
    intake: frozenset[Intake] = frozenset({Intake.POLL})

    def __init__(self, name: str, config: PopsellConfig, *, client: PopsellClient | None = None) -> None:
        self.name = name
        self.config = config
        self.client = client or PopsellClient(
            base_url=config.base_url,
            domain=config.domain,
            api_key=config.api_key,
            brand_id=config.brand_id,
            settings=config.http_settings(),
        )

    async def create_chat(self, name: str | None, members: Iterable[str | int], **options: Any) -> Chat:
        """`POST /chat/chatrooms`: `members` are the two ambassadors, or pass `id_brand_tag=` and no members.

        A Popsell chatroom has no name: a given `name` is ignored. Options: `id_brand_tag`, `source` (0|1|2,
        default from config).
        """
        refuse_unknown(PROVIDER, "create_chat", options, CREATE_OPTIONS)
        if name is not None:
            log.debug("popsell: chatrooms have no name; ignoring name %r", name)
        ids = [_provider_int(member, "members") for member in members]
        brand_tag = options.get("id_brand_tag")
        chatroom = await self.client.create_chatroom(
            source=_provider_int(options.get("source", self.config.source), "source"),
            ids_ambassadors=ids if ids or brand_tag is None else None,
            id_brand_tag=None if brand_tag is None else _provider_int(brand_tag, "id_brand_tag"),
        )
        return self._chat(chatroom)

    async def rename_chat(self, chat_id: str | int, name: str) -> Chat:
        raise Unsupported(PROVIDER, "rename_chat", _FIXED_ROOM)

    async def set_members(self, chat_id: str | int, members: Iterable[str | int]) -> Chat:
        raise Unsupported(PROVIDER, "set_members", _FIXED_ROOM)

    async def delete_chat(self, chat_id: str | int) -> None:
        raise Unsupported(PROVIDER, "delete_chat", "Popsell documents no way to delete a chatroom")

    async def post_message(self, chat_id: str | int, text: str) -> Message:
        """`POST /chat/chatrooms/{id}/messages` as the configured sender, a text message (type 0)."""
        chatroom_id = _provider_int(chat_id, "chat_id")
        posted = await self.client.post_message(
            chatroom_id, id_ambassador=self.config.sender_ambassador_id, content=text
        )
        if posted is None:
            return Message(provider=PROVIDER, chat_id=str(chatroom_id), text=text)
        return self._message(str(chatroom_id), posted, fallback_text=text)

    async def get_chat(self, chat_id: str | int) -> Chat:
        """`GET /chat/chatrooms/{id}`."""
        return self._chat(await self.client.get_chatroom(_provider_int(chat_id, "chat_id")))

    async def list_chats(self) -> AsyncIterator[Chat]:
        """`GET /chat/ambassadors/{sender}/chatrooms?page=N`: the configured sender's chatrooms."""
        async for chatroom in self.client.iter_ambassador_chatrooms(self.config.sender_ambassador_id):
            yield self._chat(chatroom)

    async def list_messages(self, chat_id: str | int) -> AsyncIterator[Message]:
        """`GET /chat/chatrooms/{id}/messages?page=N`."""
        chatroom_id = _provider_int(chat_id, "chat_id")
        async for message in self.client.iter_messages(chatroom_id):
            yield self._message(str(chatroom_id), message)

    async def find_chat(
        self, name: str | None, members: Iterable[str | int], since: datetime, **options: Any
    ) -> Chat | None:
        """The one-to-one chatroom of the same two ambassadors and `source`, made at or after `since`.

        Reads `GET /chat/ambassadors/{ambassador}/chatrooms?page=N` as `_find_recent` does, for the member
        who is not the configured sender (whose list is likely the longest; else the lower id). `name` is
        ignored, as create_chat ignores it. A brand-tag chatroom cannot be read back (raises `Unsupported`):
        a chatroom does not say which brand tag it was made for.
        """
        refuse_unknown(PROVIDER, "find_chat", options, CREATE_OPTIONS)
        if options.get("id_brand_tag") is not None:
            raise Unsupported(
                PROVIDER, "find_chat", "a chatroom does not say which brand tag it was made for"
            )
        pair = {_provider_int(member, "members") for member in members}
        if len(pair) != 2:
            why = f"a Popsell chatroom is made for exactly two ambassadors, got {len(pair)}"
            raise InvalidRequest(f"members: {why}", field_errors={"members": [why]}, provider=PROVIDER)
        source = _provider_int(options.get("source", self.config.source), "source")
        floor = cutoff(since, TIMESTAMP_RESOLUTION)

        def made(chatroom: Chatroom) -> bool:
            return (
                {ambassador.id_ambassador for ambassador in chatroom.ambassadors} == pair
                and chatroom.type_chatroom in (None, TYPE_CHATROOM_ONE_TO_ONE)
                and chatroom.source in (None, source)
                and chatroom.date_insert is not None
                and chatroom.date_insert >= floor
            )

        ambassador = min(pair - {self.config.sender_ambassador_id}, default=min(pair))
        chatroom = await self._find_recent(
            lambda page: self.client.list_ambassador_chatrooms(ambassador, page=page),
            made,
            lambda chatroom: chatroom.date_insert,
            floor,
            ("find_chat", f"the chatrooms of ambassador {ambassador}"),
        )
        return None if chatroom is None else self._chat(chatroom)

    @property
    def own_id(self) -> str:
        """The ambassador the bot posts as: its messages are the bot's own."""
        return str(self.config.sender_ambassador_id)

    def is_own(self, message: InboundMessage) -> bool:
        return message.sender_id == self.own_id

    def inbound(self, chat_id: str, message: ChatMessage) -> InboundMessage:
        author = message.author
        names = [] if author is None else [author.firstname, author.lastname]
        name = " ".join(part for part in names if part) or (author.username if author else None)
        return InboundMessage(
            provider=PROVIDER,
            adapter=self.name,
            chat_id=chat_id,
            message_id=str(message.id_message),
            sender_id=None if author is None or author.id_ambassador is None else str(author.id_ambassador),
            sender_name=name,
            text=message.content or "",
            sent_at=message.date_insert,
            raw=raw_json(message),
        )

    async def poll_messages(self, chat_id: str, cursor: str | None) -> Polled:
        """The messages after `cursor`, in Popsell's order (oldest first), from `GET .../messages?page=N`.

        The cursor is `<page>:<id_message>`: the page the newest message seen is on and its id. A poll reads
        that page and any after it (one request when nothing much happened); messages only ever append.
        """
        chatroom_id = _provider_int(chat_id, "chat_id")
        page_number, last_id = _popsell_cursor(cursor)
        found: list[ChatMessage] = []
        while True:
            page = await self.client.list_messages(chatroom_id, page=page_number)
            found += [message for message in page.data if message.id_message > last_id]
            if not page.has_more:
                page_number = page.current_page
                break
            page_number = page.current_page + 1
        if found:
            last_id = max(message.id_message for message in found)
        messages = [self.inbound(chat_id, message) for message in found]
        return Polled(messages, f"{page_number}:{last_id}" if found else cursor)

    async def latest_cursor(self, chat_id: str) -> str | None:
        """The cursor of a chatroom watched from now on: its last page's newest message (two requests at most)."""
        chatroom_id = _provider_int(chat_id, "chat_id")
        page = await self.client.list_messages(chatroom_id, page=1)
        if page.last_page and page.last_page > page.current_page:
            page = await self.client.list_messages(chatroom_id, page=page.last_page)
        if not page.data:
            return None
        return f"{page.current_page}:{max(message.id_message for message in page.data)}"

    async def find_message(self, chat_id: str, text: str, since: datetime) -> Message | None:
        """The text message with `text` the configured sender posted at or after `since`.

        Reads `GET /chat/chatrooms/{id}/messages?page=N` as `_find_recent` does.
        """
        chatroom_id = _provider_int(chat_id, "chat_id")
        floor = cutoff(since, TIMESTAMP_RESOLUTION)
        sender = self.config.sender_ambassador_id

        def posted(message: ChatMessage) -> bool:
            return (
                message.content == text
                and message.author is not None
                and message.author.id_ambassador == sender
                and message.type_message in (None, TYPE_MESSAGE_TEXT)
                and message.date_insert is not None
                and message.date_insert >= floor
            )

        message = await self._find_recent(
            lambda page: self.client.list_messages(chatroom_id, page=page),
            posted,
            lambda message: message.date_insert,
            floor,
            ("find_message", f"the messages of chatroom {chatroom_id}"),
        )
        return None if message is None else self._message(str(chatroom_id), message)

    async def _find_recent(
        self,
        fetch: Callable[[int], Awaitable[Page[T]]],
        wanted: Callable[[T], bool],
        made_at: Callable[[T], datetime | None],
        floor: datetime,
        what: tuple[str, str],
    ) -> T | None:
        """The first wanted item of a paginated list, reading page 1, then the last page and back from there.

        Popsell documents no order; its lists come oldest first (Laravel's default, and the emulator's),
        which puts what was made since on the last pages: a page holding an item made before `floor` ends
        the walk back. Page 1 is read anyway, as the page count comes with it, and covers the newest-first
        order too. Past MAX_ITEMS items it cannot tell and raises `Unsupported`; `what` names the operation
        and the list for that error.
        """
        first = await fetch(1)
        found = next((item for item in first.data if wanted(item)), None)
        scanned = len(first.data)
        number = first.last_page or 1
        while found is None and number > 1:
            if scanned >= MAX_ITEMS:
                operation, listing = what
                why = f"not among the {scanned} items read of {listing}, and more pages may hold it"
                raise undecided(log, PROVIDER, operation, why)
            page = await fetch(number)
            found = next((item for item in page.data if wanted(item)), None)
            scanned += len(page.data)
            if any((made := made_at(item)) is not None and made < floor for item in page.data):
                break
            number -= 1
        return found

    async def close(self) -> None:
        await self.client.close()

    @staticmethod
    def _chat(chatroom: Chatroom) -> Chat:
        return Chat(
            provider=PROVIDER,
            id=str(chatroom.id_chatroom),
            name=None,
            members=tuple(str(ambassador.id_ambassador) for ambassador in chatroom.ambassadors),
            created_at=chatroom.date_insert,
            raw=chatroom,
        )

    @staticmethod
    def _message(chat_id: str, message: ChatMessage, fallback_text: str = "") -> Message:
        return Message(
            provider=PROVIDER,
            chat_id=chat_id,
            id=str(message.id_message),
            text=message.content if message.content is not None else fallback_text,
            sent_at=message.date_insert,
            raw=message,
        )


def build(name: str, config: PopsellConfig) -> PopsellProvider:
    """The AdapterSpec's factory: one provider per `[adapters.NAME]` table."""
    empty = [key for key in ("base_url", "domain", "api_key") if not getattr(config, key).strip()]
    if empty:
        raise ConfigError(
            [f"adapters.{name}.{key}: empty; set the Popsell {key.replace('_', ' ')}" for key in empty]
        )
    return PopsellProvider(name, config)
