"""The GroupAlarm emulator's in-memory world: credentials, organizations, rooms, messages, reply modes."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import attrs

__all__ = [
    "ORGANIZATION_MEMBERS",
    "SEED_EVENT_ID",
    "SEED_EVENT_ROOM_ID",
    "SEED_SCHEDULED_DELETION",
    "TEST_API_TOKEN",
    "TEST_API_TOKEN_ORGANIZATION",
    "TEST_PAT_ORGANIZATIONS",
    "TEST_PAT_USER_ID",
    "TEST_PERSONAL_ACCESS_TOKEN",
    "Caller",
    "GroupAlarmState",
    "MessageReply",
    "Room",
    "StoredMessage",
    "UpdateReply",
]

TEST_API_TOKEN = "test-api-token"
"""The one organization token the emulator accepts (header `API-TOKEN`); it acts for organization 1."""
TEST_API_TOKEN_ORGANIZATION = 1
TEST_PERSONAL_ACCESS_TOKEN = "test-pat"
"""The one personal access token it accepts (`Personal-Access-Token`): user 7, in organizations 1 and 2."""
TEST_PAT_USER_ID = 7
TEST_PAT_ORGANIZATIONS = frozenset({1, 2})
ORGANIZATION_MEMBERS: dict[int, tuple[int, ...]] = {1: (7, 11, 12, 13), 2: (7, 21, 22)}
"""Who belongs to which organization: the default chatroom assigns all of them."""

SEED_EVENT_ID = 4711
SEED_EVENT_ROOM_ID = 1
SEED_SCHEDULED_DELETION = "2030-06-01T20:00:00.123456789+02:00"
"""Go's RFC 3339 with nanoseconds, as GroupAlarm's Go services write times."""


class MessageReply(enum.StrEnum):
    """How the emulator answers a sent message (the spec documents no answer)."""

    NO_CONTENT = "204"
    CREATED_EMPTY = "201"
    CREATED_WITH_BODY = "201-body"


class UpdateReply(enum.StrEnum):
    """How the emulator answers `PUT /chatroom/{roomID}` (the spec documents no answer)."""

    ROOM = "200"
    NO_CONTENT = "204"


@attrs.frozen
class Caller:
    """Who a request acts as: the organizations it may touch and, for a personal token, the user."""

    organizations: frozenset[int]
    user_id: int | None


@attrs.define
class Room:
    id: int
    name: str
    organization_id: int
    assigned_users: list[int]
    type: str = "custom"
    event_id: int | None = None
    scheduled_deletion: str | None = None
    avatar: bytes | None = None
    avatar_version: int = 0

    def wire(self) -> dict[str, Any]:
        """The chatroom as GroupAlarm sends it: Go zero values, and newer fields old clients must ignore."""
        avatar_url = (
            f"https://storage.groupalarm.example/chat/avatars/{self.id}-{self.avatar_version}.png"
            if self.avatar
            else ""
        )
        return {
            "assignedUsers": list(self.assigned_users),
            "avatarURL": avatar_url,
            "eventID": self.event_id or 0,
            "id": self.id,
            "name": self.name,
            "organizationID": self.organization_id,
            "scheduledDeletion": self.scheduled_deletion,
            "type": self.type,
            "admins": [],
            "moderators": [],
            "automationEnabled": False,
        }


@attrs.frozen
class StoredMessage:
    id: int
    room_id: int
    user_id: int | None
    message: str
    created_at: datetime

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "roomID": self.room_id,
            "userID": self.user_id,
            "message": self.message,
            "createdAt": self.created_at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        }


@attrs.define
class GroupAlarmState:
    """Everything the emulator remembers; `reset()` returns to the seed: one event room in organization 1."""

    message_reply: MessageReply = MessageReply.NO_CONTENT
    update_reply: UpdateReply = UpdateReply.ROOM
    rooms: dict[int, Room] = attrs.field(factory=dict)
    messages: list[StoredMessage] = attrs.field(factory=list)
    next_room_id: int = 1

    def __attrs_post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.rooms.clear()
        self.messages.clear()
        self.next_room_id = 1
        self.add_room(
            name="Alarm: Fire Main Street",
            organization_id=TEST_API_TOKEN_ORGANIZATION,
            assigned_users=[7, 11, 12],
            type="event",
            event_id=SEED_EVENT_ID,
            scheduled_deletion=SEED_SCHEDULED_DELETION,
        )

    def add_room(
        self,
        *,
        name: str,
        organization_id: int,
        assigned_users: list[int],
        type: str = "custom",
        event_id: int | None = None,
        scheduled_deletion: str | None = None,
    ) -> Room:
        room = Room(
            id=self.next_room_id,
            name=name,
            organization_id=organization_id,
            assigned_users=assigned_users,
            type=type,
            event_id=event_id,
            scheduled_deletion=scheduled_deletion,
        )
        self.rooms[room.id] = room
        self.next_room_id += 1
        return room

    def default_room(self, organization_id: int) -> Room | None:
        for room in self.rooms.values():
            if room.type == "default" and room.organization_id == organization_id:
                return room
        return None

    def add_message(self, room_id: int, user_id: int | None, text: str) -> StoredMessage:
        stored = StoredMessage(
            id=len(self.messages) + 1,
            room_id=room_id,
            user_id=user_id,
            message=text,
            created_at=datetime.now(UTC),
        )
        self.messages.append(stored)
        return stored
