"""Which chats a poller watches and where it is in each: both kept in the store, so restarts and replicas agree.

A chat is watched because the bot created it (`RecordingProvider` notes every chat `create_chat` makes) or because
`[conversations] watch` names it. A chat the bot created is delivered from its first message; a configured one
from the moment it was first watched (its history is not replayed). The cursor of a chat is the adapter's mark of
the newest message delivered; it is written only after the messages before it are in the inbox.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs

from framework.chats import Chat
from framework.store.base import Store

__all__ = [
    "CURSOR_NAMESPACE",
    "WATCH_NAMESPACE",
    "ChatCursors",
    "RecordingProvider",
    "WatchedChat",
    "WatchedChats",
]

WATCH_NAMESPACE = "_chatwright.watch"
CURSOR_NAMESPACE = "_chatwright.cursor"
SEPARATOR = "|"


def _key(adapter: str, chat_id: str) -> str:
    return f"{adapter}{SEPARATOR}{chat_id}"


@attrs.frozen
class WatchedChat:
    """A chat a poller watches; `from_start`: deliver the messages it already holds when first polled."""

    adapter: str
    chat_id: str
    from_start: bool


class WatchedChats:
    """The watch list in the store (plugin state namespace `_chatwright.watch`)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def watch(self, adapter: str, chat_id: str, *, from_start: bool) -> bool:
        """Watch a chat; False when it was watched already (its record is kept as it was)."""
        key = _key(adapter, chat_id)
        if await self._store.state_get(WATCH_NAMESPACE, key) is not None:
            return False
        await self._store.state_set(WATCH_NAMESPACE, key, {"from_start": from_start})
        return True

    async def unwatch(self, adapter: str, chat_id: str) -> bool:
        await self._store.state_delete(CURSOR_NAMESPACE, _key(adapter, chat_id))
        return await self._store.state_delete(WATCH_NAMESPACE, _key(adapter, chat_id))

    async def chats(self, adapter: str) -> list[WatchedChat]:
        prefix = f"{adapter}{SEPARATOR}"
        found: list[WatchedChat] = []
        for key in await self._store.state_keys(WATCH_NAMESPACE, prefix):
            record = await self._store.state_get(WATCH_NAMESPACE, key)
            if record is not None:
                found.append(WatchedChat(adapter, key[len(prefix) :], bool(record.get("from_start"))))
        return found


@attrs.frozen
class Cursor:
    """Where polling a chat stands: `value` is the adapter's mark (None: polled, nothing in it yet)."""

    value: str | None


class ChatCursors:
    """The durable cursor of every watched chat (plugin state namespace `_chatwright.cursor`)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, adapter: str, chat_id: str) -> Cursor | None:
        """The chat's cursor; None when it was never polled."""
        record = await self._store.state_get(CURSOR_NAMESPACE, _key(adapter, chat_id))
        return None if record is None else Cursor(record.get("cursor"))

    async def set(self, adapter: str, chat_id: str, value: str | None) -> None:
        await self._store.state_set(CURSOR_NAMESPACE, _key(adapter, chat_id), {"cursor": value})


class RecordingProvider:
    """An adapter whose `create_chat` (and the read-back that finds a chat an earlier attempt made) also
    watches the chat it returns; everything else is the adapter's own."""

    def __init__(self, provider: Any, watched: WatchedChats) -> None:
        self._provider = provider
        self._watched = watched
        self.name = provider.name
        self.capabilities = provider.capabilities

    def __getattr__(self, name: str) -> Any:
        return getattr(self._provider, name)

    # `isinstance(ctx.chats["x"], RoostedHRProvider)` keeps working, as through JournaledProvider.
    @property  # type: ignore[misc]
    def __class__(self) -> type[Any]:
        return type(self._provider)

    def __repr__(self) -> str:
        return f"<watching {self._provider!r}>"

    @property
    def wrapped(self) -> Any:
        return self._provider

    async def create_chat(self, name: str | None, members: Iterable[str | int], **options: Any) -> Chat:
        chat: Chat = await self._provider.create_chat(name, members, **options)
        await self._watched.watch(self._provider.name, chat.id, from_start=True)
        return chat

    async def find_chat(
        self, name: str | None, members: tuple[str, ...], since: datetime, **options: Any
    ) -> Chat | None:
        chat: Chat | None = await self._provider.find_chat(name, members, since, **options)
        if chat is not None:
            await self._watched.watch(self._provider.name, chat.id, from_start=True)
        return chat
