"""The unified chat API (framework.chats) on GroupAlarm chatrooms, and the adapter's config section."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

import aiohttp
import attrs

from adapters.groupalarm.client import MAX_LIMIT, PROVIDER, GroupAlarmClient
from adapters.groupalarm.models import DEFAULT_BASE_URL, Chatroom, Paths, SentMessage
from adapters.options import refuse_unknown
from adapters.readback import cutoff
from framework.adapter_registry import AdapterConfig
from framework.chats import Capability, Chat, Message
from framework.errors import InvalidRequest, ProviderError, Unsupported

__all__ = ["GroupAlarmConfig", "GroupAlarmProvider", "build_provider"]

log = logging.getLogger("chatwright.adapters.groupalarm")


def _organization_id(value: str | int) -> int:
    """TOML may hold the id as an int or a string; GroupAlarm wants an int."""
    if isinstance(value, bool):
        raise ValueError(f"organization_id: expected an integer id, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"organization_id: expected an integer id, got {value!r}") from None
    if number < 1:
        raise ValueError(f"organization_id: expected a positive id, got {number}")
    return number


def _page_size(_: Any, __: Any, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise ValueError(f"page_size: expected an integer from 1 to {MAX_LIMIT}, got {value!r}")


@attrs.frozen(kw_only=True)
class GroupAlarmConfig(AdapterConfig):
    """`[adapters.NAME]` for GroupAlarm: one of `api_token` / `personal_access_token`, and an organization."""

    provider: str = PROVIDER
    base_url: str = DEFAULT_BASE_URL
    organization_id: int = attrs.field(converter=_organization_id)
    api_token: str | None = attrs.field(default=None, repr=False)
    personal_access_token: str | None = attrs.field(default=None, repr=False)
    paths: Paths = attrs.field(factory=Paths)
    """Overrides of the request paths, per key (see models.Paths for the defaults)."""
    page_size: int = attrs.field(default=MAX_LIMIT, validator=_page_size)
    """Chatrooms asked for per `GET /chatrooms` page when listing (1..50)."""

    def __attrs_post_init__(self) -> None:
        if self.api_token and self.personal_access_token:
            raise ValueError(
                "api_token and personal_access_token are both set; keep exactly one "
                "(api_token for an organization token, personal_access_token for a user's token)"
            )
        if not self.api_token and not self.personal_access_token:
            raise ValueError(
                "neither api_token nor personal_access_token is set (or it is empty); set exactly one"
            )


class GroupAlarmProvider:
    """GroupAlarm chatrooms through the unified API; `client` reaches what the unified API does not."""

    capabilities: frozenset[Capability] = frozenset(Capability) - {Capability.LIST_MESSAGES}
    readback: frozenset[Capability] = frozenset({Capability.CREATE_CHAT})

    def __init__(
        self,
        client: GroupAlarmClient,
        *,
        organization_id: int,
        name: str = PROVIDER,
        page_size: int = MAX_LIMIT,
    ) -> None:
        self.name = name
        self.client = client
        self.organization_id = organization_id
        self.page_size = page_size

    async def create_chat(self, name: str | None, members: Iterable[str | int], **options: Any) -> Chat:
        """`POST /chatroom`: a custom chatroom; option `organization_id` overrides the configured one."""
        organization_id, name = self._custom_room("create_chat", name, options)
        room = await self.client.create_chatroom(organization_id, name, _user_ids(members))
        log.debug("groupalarm: created chatroom %s in organization %s", room.id, organization_id)
        return self._chat(room)

    async def rename_chat(self, chat_id: str | int, name: str) -> Chat:
        """`GET /chatroom/{roomID}`, then `PUT` the whole room with the new name."""
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequest(
                "rename_chat: invalid name",
                field_errors={"name": ["must be a non-empty string"]},
                provider=PROVIDER,
            )
        room = await self.client.get_chatroom(_room_id(chat_id))
        return await self._update(attrs.evolve(room, name=name))

    async def set_members(self, chat_id: str | int, members: Iterable[str | int]) -> Chat:
        """`GET /chatroom/{roomID}`, then `PUT` the whole room with `assignedUsers` replaced."""
        users = _user_ids(members)
        room = await self.client.get_chatroom(_room_id(chat_id))
        return await self._update(attrs.evolve(room, assigned_users=users))

    async def _update(self, room: Chatroom) -> Chat:
        if room.organization_id is None:
            raise ProviderError(f"chatroom {room.id} came without an organizationID", provider=PROVIDER)
        answered = await self.client.update_chatroom(
            room.id, organization_id=room.organization_id, name=room.name, assigned_users=room.assigned_users
        )
        return self._chat(answered or room)

    async def post_message(self, chat_id: str | int, text: str) -> Message:
        """`POST /chatroom/{roomID}/message`; `Message.id` is None when the service answers no body."""
        room_id = _room_id(chat_id)
        sent = await self.client.send_message(room_id, text)
        return _message(room_id, text, sent)

    async def get_chat(self, chat_id: str | int) -> Chat:
        """`GET /chatroom/{roomID}`."""
        return self._chat(await self.client.get_chatroom(_room_id(chat_id)))

    async def list_chats(self) -> AsyncIterator[Chat]:
        """`GET /chatrooms` page by page (limit/offset) until `total` is reached."""
        offset = 0
        while True:
            page = await self.client.list_chatrooms(self.organization_id, limit=self.page_size, offset=offset)
            for room in page.entries:
                yield self._chat(room)
            offset += len(page.entries)
            if not page.entries or offset >= page.total:
                return

    def list_messages(self, chat_id: str | int) -> AsyncIterator[Message]:
        raise Unsupported(
            PROVIDER, "list_messages", "the Messenger API documents no endpoint to read messages"
        )

    async def delete_chat(self, chat_id: str | int) -> None:
        """`DELETE /chatroom/{roomID}`; the room cannot be restored."""
        await self.client.delete_chatroom(_room_id(chat_id))

    async def find_chat(
        self, name: str | None, members: Iterable[str | int], since: datetime, **options: Any
    ) -> Chat | None:
        """The organization's custom chatroom named `name` with exactly `members` assigned.

        One request, `GET /chatrooms?organization_id=..&all=true`. A chatroom carries no creation time, so
        `since` cannot be checked: a room made earlier with the same name and members is found as well (of
        several, the one with the highest id, the newest if ids grow as rooms are made).
        """
        organization_id, name = self._custom_room("find_chat", name, options)
        cutoff(since)  # not compared (see above), but refused when naive, as by every read-back
        users = set(_user_ids(members))
        page = await self.client.list_all_chatrooms(organization_id)
        rooms = [
            room
            for room in page.entries
            if room.type == "custom" and room.name == name and set(room.assigned_users) == users
        ]
        return self._chat(max(rooms, key=lambda room: room.id)) if rooms else None

    async def find_message(self, chat_id: str, text: str, since: datetime) -> Message | None:
        raise Unsupported(
            PROVIDER, "find_message", "the Messenger API documents no endpoint to read messages"
        )

    def _custom_room(self, operation: str, name: str | None, options: dict[str, Any]) -> tuple[int, str]:
        """The organization and name of a custom chatroom `create_chat(name, ..., **options)` makes."""
        refuse_unknown(PROVIDER, operation, options, ("organization_id",))
        organization_id = self.organization_id
        if "organization_id" in options:
            organization_id = _as_int("organization_id", options["organization_id"])
        if name is None:
            raise InvalidRequest(
                f"{operation}: a GroupAlarm chatroom needs a name",
                field_errors={"name": ["required"]},
                provider=PROVIDER,
            )
        return organization_id, name

    async def close(self) -> None:
        await self.client.close()

    @staticmethod
    def _chat(room: Chatroom) -> Chat:
        return Chat(
            provider=PROVIDER,
            id=str(room.id),
            name=room.name,
            members=tuple(str(user) for user in room.assigned_users),
            raw=room,
        )


def _message(room_id: int, text: str, sent: SentMessage | None) -> Message:
    if sent is None:
        return Message(provider=PROVIDER, chat_id=str(room_id), text=text)
    return Message(
        provider=PROVIDER,
        chat_id=str(sent.room_id or room_id),
        id=sent.id,
        text=sent.message or text,
        sent_at=sent.created_at,
        raw=sent,
    )


def _as_int(field: str, value: Any) -> int:
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        number = None
    if number is None or number < 1:
        raise InvalidRequest(
            f"{field}: expected a positive integer id",
            field_errors={field: [f"must be a positive integer id (int or digits), got {value!r}"]},
            provider=PROVIDER,
        )
    return number


def _room_id(chat_id: str | int) -> int:
    return _as_int("chat_id", chat_id)


def _user_ids(members: Iterable[str | int]) -> tuple[int, ...]:
    """Unified member ids (str or int) as GroupAlarm user ids, in order, without duplicates."""
    if isinstance(members, str | bytes):
        raise InvalidRequest(
            "members: expected a list of user ids, got a single string",
            field_errors={"members": ["must be a list of user ids, not a string"]},
            provider=PROVIDER,
        )
    bad: list[str] = []
    users: dict[int, None] = {}
    for member in members:
        try:
            users[_as_int("members", member)] = None
        except InvalidRequest:
            bad.append(f"{member!r} is not a GroupAlarm user id (a positive integer)")
    if bad:
        raise InvalidRequest("members: invalid user ids", field_errors={"members": bad}, provider=PROVIDER)
    return tuple(users)


def build_provider(
    name: str, config: GroupAlarmConfig, session: aiohttp.ClientSession | None = None
) -> GroupAlarmProvider:
    """The adapter's `build`: a provider for `[adapters.NAME]`."""
    client = GroupAlarmClient(
        api_token=config.api_token,
        personal_access_token=config.personal_access_token,
        base_url=config.base_url,
        paths=config.paths,
        settings=config.http_settings(),
        session=session,
    )
    return GroupAlarmProvider(
        client, organization_id=config.organization_id, name=name, page_size=config.page_size
    )
