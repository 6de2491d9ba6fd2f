"""GroupAlarm's converter absorbs the wire quirks; config and path table refuse mistakes, clearly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import cattrs
import pytest

from adapters.groupalarm import Chatroom, ChatroomPage, GroupAlarmConfig, Paths, SentMessage
from adapters.groupalarm.models import ChatroomInput, make_converter

CONVERTER = make_converter()


def test_a_quirky_chatroom_is_read() -> None:
    room = CONVERTER.structure(
        {
            "assignedUsers": ["7", 11],
            "avatarURL": "https://example.test/a.png",
            "eventID": "4711",
            "id": "3",
            "name": "Alarm",
            "organizationID": "1",
            "scheduledDeletion": "2030-06-01 20:00:00",
            "type": "event",
            "admins": [7],
            "moderators": None,
            "automationEnabled": True,
        },
        Chatroom,
    )

    assert room == Chatroom(
        id=3,
        name="Alarm",
        organization_id=1,
        assigned_users=(7, 11),
        avatar_url="https://example.test/a.png",
        event_id=4711,
        scheduled_deletion=datetime(2030, 6, 1, 20, 0, tzinfo=UTC),
        type="event",
    )


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (None, None),
        ("", None),
        ("0001-01-01T00:00:00Z", None),
        ("2030-06-01T20:00:00.123456789Z", datetime(2030, 6, 1, 20, 0, 0, 123456, tzinfo=UTC)),
        (1906574400, datetime(2030, 6, 1, 20, 0, tzinfo=UTC)),
        (1906574400000, datetime(2030, 6, 1, 20, 0, tzinfo=UTC)),
        ("1906574400", datetime(2030, 6, 1, 20, 0, tzinfo=UTC)),
    ],
)
def test_scheduled_deletion_formats(wire: Any, expected: datetime | None) -> None:
    room = CONVERTER.structure({"id": 1, "scheduledDeletion": wire}, Chatroom)
    assert room.scheduled_deletion == expected


def test_go_zero_values_and_nulls_mean_absent() -> None:
    room = CONVERTER.structure(
        {"id": 1, "assignedUsers": None, "avatarURL": "", "eventID": 0, "organizationID": 1}, Chatroom
    )
    assert (room.assigned_users, room.avatar_url, room.event_id) == ((), None, None)


@pytest.mark.parametrize(
    "wire",
    [
        {"name": "no id"},
        {"id": True},
        {"id": "abc"},
        {"id": 1, "assignedUsers": "7"},
        {"id": 1, "scheduledDeletion": "soon"},
    ],
)
def test_a_broken_chatroom_is_refused(wire: dict[str, Any]) -> None:
    with pytest.raises(cattrs.ClassValidationError):
        CONVERTER.structure(wire, Chatroom)


def test_a_page_with_a_string_total_and_null_entries() -> None:
    assert CONVERTER.structure({"entries": None, "total": "0"}, ChatroomPage) == ChatroomPage()
    page = CONVERTER.structure({"entries": [{"id": 2}], "total": "7", "next": "x"}, ChatroomPage)
    assert page.total == 7 and page.entries[0].id == 2


def test_a_sent_message_takes_ids_as_ints_or_strings() -> None:
    sent = CONVERTER.structure(
        {"id": 5, "roomID": "3", "message": "hi", "createdAt": "2024-01-05T20:13:00.000Z"}, SentMessage
    )
    assert sent == SentMessage(
        id="5", room_id=3, message="hi", created_at=datetime(2024, 1, 5, 20, 13, tzinfo=UTC)
    )
    assert CONVERTER.structure({"id": "m-1"}, SentMessage).id == "m-1"


def test_the_room_body_uses_the_documented_names_and_nothing_else() -> None:
    body = CONVERTER.unstructure(ChatroomInput(assigned_users=(7, 11), name="Crew", organization_id=1))
    assert body == {"assignedUsers": [7, 11], "name": "Crew", "organizationID": 1}


def test_paths_are_overridden_per_key_and_checked() -> None:
    config = cattrs.Converter().structure(
        {
            "api_token": "t",
            "organization_id": "12",
            "paths": {"send_message": "/v2/rooms/{roomID}/messages"},
        },
        GroupAlarmConfig,
    )
    assert config.organization_id == 12
    assert config.paths.send_message == "/v2/rooms/{roomID}/messages"
    assert config.paths.get_chatroom == "/chatroom/{roomID}"
    assert config.base_url == "https://app.groupalarm.com/api/v1/chat"
    with pytest.raises(ValueError, match=r"paths.get_chatroom: '/x' must contain \{roomID\}"):
        Paths(get_chatroom="/x")
    with pytest.raises(ValueError, match="must be a string starting with '/'"):
        Paths(list_chatrooms="chatrooms")
    assert Paths.fill("/o/{organizationID}/r/{roomID}", room_id=3, organization_id=1) == "/o/1/r/3"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"organization_id": 1}, "neither api_token nor personal_access_token"),
        ({"organization_id": 1, "api_token": ""}, "neither api_token nor personal_access_token"),
        (
            {"organization_id": 1, "api_token": "a", "personal_access_token": "b"},
            "both set; keep exactly one",
        ),
        ({"organization_id": "acme", "api_token": "a"}, "organization_id: expected an integer id"),
        ({"organization_id": 0, "api_token": "a"}, "organization_id: expected a positive id"),
        (
            {"organization_id": 1, "api_token": "a", "page_size": 51},
            "page_size: expected an integer from 1 to 50",
        ),
    ],
)
def test_config_mistakes_are_explained(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GroupAlarmConfig(**settings)


def test_config_never_shows_the_token() -> None:
    config = GroupAlarmConfig(organization_id=1, personal_access_token="s3cret-token")
    assert "s3cret-token" not in repr(config)
