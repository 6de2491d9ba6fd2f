"""The DevRev emulator's in-memory world: dev users, DM chats, their timelines, and their JSON shapes."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from .models import format_date

__all__ = [
    "CORE_PREFIX",
    "IDENTITY_PREFIX",
    "ChatRecord",
    "DevRevState",
    "DevUser",
    "EntryRecord",
    "decode_cursor",
    "encode_cursor",
]

IDENTITY_PREFIX = "don:identity:dvrv-us-1:devo/0"
CORE_PREFIX = "don:core:dvrv-us-1:devo/0"
_DEV_USER_ID = re.compile(re.escape(IDENTITY_PREFIX) + r":devu/(\d+)$")
_DEV_USER_DISPLAY = re.compile(r"DEVU-(\d+)$", re.IGNORECASE)
_CHAT_DISPLAY = re.compile(r"DM-(\d+)$", re.IGNORECASE)


def _now() -> datetime:
    return datetime.now(UTC)


@attrs.frozen
class DevUser:
    """A dev user of the emulated org; `number` gives both ids (`devu/N`, `DEVU-N`)."""

    number: int
    full_name: str
    email: str

    @property
    def id(self) -> str:
        return f"{IDENTITY_PREFIX}:devu/{self.number}"

    def as_json(self) -> dict[str, Any]:
        return {
            "type": "dev_user",
            "display_id": f"DEVU-{self.number}",
            "id": self.id,
            "display_name": self.full_name.lower().replace(" ", "-"),
            "email": self.email,
            "full_name": self.full_name,
            "state": "active",
        }


@attrs.define
class ChatRecord:
    number: int
    title: str | None
    users: list[str]
    records: list[str]
    is_default: bool
    created_by: str
    created: datetime = attrs.field(factory=_now)
    modified_by: str = ""
    modified: datetime = attrs.field(factory=_now)

    @property
    def id(self) -> str:
        return f"{CORE_PREFIX}:dm/{self.number}"


@attrs.define
class EntryRecord:
    number: int
    object: str
    body: str | None
    body_type: str
    visibility: str
    created_by: str
    created: datetime = attrs.field(factory=_now)


@attrs.define
class DevRevState:
    """Everything the emulator remembers; `reset()` goes back to the seeded users and nothing else."""

    tokens: Mapping[str, str]
    """Valid tokens -> the dev user id each one authenticates."""
    seed_users: tuple[DevUser, ...]
    rate_limit: int
    rate_window: float
    users: dict[str, DevUser] = attrs.field(factory=dict)
    chats: dict[str, ChatRecord] = attrs.field(factory=dict)
    timelines: dict[str, list[EntryRecord]] = attrs.field(factory=dict)
    used: dict[str, int] = attrs.field(factory=dict)
    window_start: float = 0.0
    next_chat: int = 1
    next_entry: int = 1

    def __attrs_post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.users = {user.id: user for user in self.seed_users}
        self.chats.clear()
        self.timelines.clear()
        self.used.clear()
        self.window_start = 0.0
        self.next_chat = 1
        self.next_entry = 1

    # --- auth and rate limit -------------------------------------------------------------------

    def caller(self, authorization: str | None) -> str | None:
        """The dev user a token authenticates (`Bearer <token>` or the raw token), or None."""
        if not authorization:
            return None
        token = authorization.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        return self.tokens.get(token)

    def spend(self, caller: str, now: float) -> float | None:
        """Count one request for `caller`; the seconds until the window resets when it is over the limit."""
        self._roll(now)
        if self.used.get(caller, 0) >= self.rate_limit:
            return max(1.0, self.window_start + self.rate_window - now)
        self.used[caller] = self.used.get(caller, 0) + 1
        return None

    def rate_headers(self, caller: str | None, now: float) -> dict[str, str]:
        self._roll(now)
        remaining = self.rate_limit - self.used.get(caller or "", 0)
        return {
            "X-Ratelimit-Limit": str(self.rate_limit),
            "X-Ratelimit-Remaining": str(max(0, remaining)),
            "X-Ratelimit-Reset": str(int(self.window_start + self.rate_window)),
        }

    def _roll(self, now: float) -> None:
        if now >= self.window_start + self.rate_window:
            self.window_start = now
            self.used.clear()

    # --- lookups -------------------------------------------------------------------------------

    def resolve_user(self, ref: str) -> str | None:
        """A dev user's id from its id or display id; unseeded `devu/N` users are made up on first sight."""
        if ref in self.users:
            return ref
        match = _DEV_USER_ID.match(ref) or _DEV_USER_DISPLAY.match(ref)
        if match is None:
            return None
        number = int(match.group(1))
        user = DevUser(number=number, full_name=f"Dev User {number}", email=f"devu{number}@example.com")
        return self.users.setdefault(user.id, user).id

    def find_chat(self, ref: str) -> ChatRecord | None:
        """A chat by its DON id or its display id (`DM-12`)."""
        if ref in self.chats:
            return self.chats[ref]
        match = _CHAT_DISPLAY.match(ref)
        if match is None:
            return None
        return self.chats.get(f"{CORE_PREFIX}:dm/{match.group(1)}")

    def default_dm(self, users: list[str]) -> ChatRecord | None:
        wanted = set(users)
        return next((c for c in self.chats.values() if c.is_default and set(c.users) == wanted), None)

    # --- changes -------------------------------------------------------------------------------

    def add_chat(
        self, caller: str, users: list[str], title: str | None, records: list[str], is_default: bool
    ) -> ChatRecord:
        chat = ChatRecord(
            number=self.next_chat,
            title=title,
            users=users,
            records=records,
            is_default=is_default,
            created_by=caller,
            modified_by=caller,
        )
        self.next_chat += 1
        self.chats[chat.id] = chat
        self.timelines[chat.id] = []
        return chat

    def add_comment(
        self,
        caller: str,
        chat: ChatRecord,
        body: str | None,
        body_type: str = "text",
        visibility: str = "external",
    ) -> EntryRecord:
        entry = EntryRecord(
            number=self.next_entry,
            object=chat.id,
            body=body,
            body_type=body_type,
            visibility=visibility,
            created_by=caller,
        )
        self.next_entry += 1
        self.timelines[chat.id].append(entry)
        return entry

    # --- DevRev's shapes -----------------------------------------------------------------------

    def user_json(self, user_id: str) -> dict[str, Any]:
        user = self.users.get(user_id)
        return user.as_json() if user else {"type": "dev_user", "id": user_id}

    def chat_json(self, chat: ChatRecord) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "type": "dm",
            "created_by": self.user_json(chat.created_by),
            "created_date": format_date(chat.created),
            "display_id": f"DM-{chat.number}",
            "id": chat.id,
            "modified_by": self.user_json(chat.modified_by),
            "modified_date": format_date(chat.modified),
            "groups": [],
            "users": [self.user_json(user) for user in chat.users],
        }
        if chat.title is not None:
            shape["title"] = chat.title
        return shape

    def entry_json(self, entry: EntryRecord) -> dict[str, Any]:
        chat = self.chats[entry.object]
        shape: dict[str, Any] = {
            "type": "timeline_comment",
            "created_by": self.user_json(entry.created_by),
            "created_date": format_date(entry.created),
            "display_id": f"COMMENT-{entry.number}",
            "id": f"{CORE_PREFIX}:comment/{entry.number}",
            "modified_by": self.user_json(entry.created_by),
            "modified_date": format_date(entry.created),
            "object": entry.object,
            "object_display_id": f"DM-{chat.number}",
            "object_type": "dm",
            "body_type": entry.body_type,
            "visibility": entry.visibility,
        }
        if entry.body is not None:
            shape["body"] = entry.body
        return shape


def encode_cursor(object_id: str, offset: int) -> str:
    raw = json.dumps({"object": object_id, "offset": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(object_id: str, cursor: str) -> int | None:
    """The offset an opaque cursor stands for, or None when it is not one of ours for this object."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (ValueError, binascii.Error):
        return None
    if not isinstance(data, dict) or data.get("object") != object_id:
        return None
    offset = data.get("offset")
    return offset if isinstance(offset, int) and offset >= 0 else None
