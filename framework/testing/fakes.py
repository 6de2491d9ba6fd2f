"""RecordingProvider: an in-memory ChatProvider that records every call, for plugins whose adapter has no emulator."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterable
from typing import Any

import attrs

from framework.chats import Capability, Chat, Message, member_ids
from framework.errors import NotFound, Unsupported

__all__ = ["ProviderCall", "RecordingProvider"]


@attrs.frozen
class ProviderCall:
    """One unified-API call a handler made: the operation and its arguments."""

    operation: str
    args: dict[str, Any]


class RecordingProvider:
    """Keeps chats and messages in memory and records calls; lacks what `capabilities` leaves out."""

    def __init__(self, name: str = "fake", capabilities: Iterable[Capability] = tuple(Capability)) -> None:
        self.name = name
        self.capabilities = frozenset(capabilities)
        self.calls: list[ProviderCall] = []
        self.chats: dict[str, Chat] = {}
        self.messages: dict[str, list[Message]] = {}
        self._ids = itertools.count(1)

    def _record(self, operation: str, **args: Any) -> None:
        self.calls.append(ProviderCall(operation, args))
        if Capability(operation) not in self.capabilities:
            raise Unsupported(self.name, operation)

    def _chat(self, chat_id: str | int) -> Chat:
        try:
            return self.chats[str(chat_id)]
        except KeyError:
            raise NotFound(f"no chat {chat_id}", provider=self.name, status=404) from None

    async def create_chat(self, name: str | None, members: Iterable[str | int], **options: Any) -> Chat:
        members = member_ids(members)
        self._record("create_chat", name=name, members=members, **options)
        chat = Chat(provider=self.name, id=str(next(self._ids)), name=name, members=members)
        self.chats[chat.id] = chat
        self.messages[chat.id] = []
        return chat

    async def rename_chat(self, chat_id: str | int, name: str) -> Chat:
        self._record("rename_chat", chat_id=str(chat_id), name=name)
        chat = attrs.evolve(self._chat(chat_id), name=name)
        self.chats[chat.id] = chat
        return chat

    async def set_members(self, chat_id: str | int, members: Iterable[str | int]) -> Chat:
        members = member_ids(members)
        self._record("set_members", chat_id=str(chat_id), members=members)
        chat = attrs.evolve(self._chat(chat_id), members=members)
        self.chats[chat.id] = chat
        return chat

    async def post_message(self, chat_id: str | int, text: str) -> Message:
        self._record("post_message", chat_id=str(chat_id), text=text)
        chat = self._chat(chat_id)
        message = Message(provider=self.name, chat_id=chat.id, id=str(next(self._ids)), text=text)
        self.messages[chat.id].append(message)
        return message

    async def get_chat(self, chat_id: str | int) -> Chat:
        self._record("get_chat", chat_id=str(chat_id))
        return self._chat(chat_id)

    async def list_chats(self) -> AsyncIterator[Chat]:
        self._record("list_chats")
        for chat in list(self.chats.values()):
            yield chat

    async def list_messages(self, chat_id: str | int) -> AsyncIterator[Message]:
        self._record("list_messages", chat_id=str(chat_id))
        for message in list(self.messages.get(str(chat_id), [])):
            yield message

    async def delete_chat(self, chat_id: str | int) -> None:
        self._record("delete_chat", chat_id=str(chat_id))
        self._chat(chat_id)
        del self.chats[str(chat_id)]

    async def close(self) -> None:
        return None

    def called(self, operation: str) -> list[dict[str, Any]]:
        """The arguments of every call of `operation`, in order."""
        return [call.args for call in self.calls if call.operation == operation]
