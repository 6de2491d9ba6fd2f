"""A message feed in memory (chats of numbered messages) for the poller's tests, and the store it appends to."""

from __future__ import annotations

import attrs

from framework.errors import Unavailable
from framework.messages import ChatMessage, Intake, Polled

BOT = "bot"


@attrs.define
class MemoryFeed:
    """Chats whose messages are numbered 1, 2, ...; the cursor is the last number seen. `fail` makes the next
    polls raise a retryable provider error."""

    name: str = "mem"
    chats: dict[str, list[tuple[str, str]]] = attrs.field(factory=dict)
    polls: int = 0
    fail: int = 0
    intake: frozenset[Intake] = frozenset({Intake.POLL})

    @property
    def own_id(self) -> str:
        return BOT

    def is_own(self, message: ChatMessage) -> bool:
        return message.sender_id == BOT

    def write(self, chat_id: str, sender: str, text: str) -> None:
        self.chats.setdefault(chat_id, []).append((sender, text))

    def message(self, chat_id: str, number: int) -> ChatMessage:
        sender, text = self.chats[chat_id][number - 1]
        return ChatMessage(
            provider="memory",
            adapter=self.name,
            chat_id=chat_id,
            message_id=str(number),
            sender_id=sender,
            sender_name=sender.title(),
            text=text,
            raw={"n": number},
        )

    async def poll_messages(self, chat_id: str, cursor: str | None) -> Polled:
        self.polls += 1
        if self.fail:
            self.fail -= 1
            raise Unavailable("the provider is down", provider="memory", retry_after=None)
        seen = int(cursor or 0)
        count = len(self.chats.get(chat_id, []))
        return Polled(
            [self.message(chat_id, n) for n in range(seen + 1, count + 1)], str(count) if count else cursor
        )

    async def latest_cursor(self, chat_id: str) -> str | None:
        count = len(self.chats.get(chat_id, []))
        return str(count) if count else None
