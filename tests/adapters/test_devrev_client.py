"""The typed DevRev client beyond the unified API, its pre-send validation, and the converter's quirks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from adapters.devrev import DevRevClient
from adapters.devrev.client import parse_error
from adapters.devrev.emulator import TEST_TOKEN, TEST_USER_ID, create_app
from adapters.devrev.models import DevRevChat, TimelineEntryList, format_date, make_converter, parse_date
from framework.adapter_registry import EmulatorOptions
from framework.emulation import FAULTS_KEY, RecordedRequest
from framework.errors import InvalidRequest, NotFound

GRACE = "don:identity:dvrv-us-1:devo/0:devu/2"
RECORD = "don:core:dvrv-us-1:devo/0:issue/7"

ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def server(aiohttp_server: ServerFactory) -> TestServer:
    return await aiohttp_server(create_app(EmulatorOptions()))


@pytest.fixture
async def client(server: TestServer) -> AsyncIterator[DevRevClient]:
    devrev = DevRevClient(token=TEST_TOKEN, base_url=str(server.make_url("")))
    yield devrev
    await devrev.close()


def sent(server: TestServer) -> list[RecordedRequest]:
    return server.app[FAULTS_KEY].requests


async def test_get_chat_by_post_and_the_dm_by_its_users(client: DevRevClient, server: TestServer) -> None:
    created = await client.create_chat([TEST_USER_ID, GRACE], title="Pair")
    sent(server).clear()

    by_post = await client.get_chat(created.id, use_post=True)
    by_users = await client.get_dm([GRACE, TEST_USER_ID])

    assert [(r.method, r.path, r.body) for r in sent(server)] == [
        ("POST", "/chats.get", {"id": created.id}),
        ("POST", "/chats.get", {"type": "dm", "users": [GRACE, TEST_USER_ID]}),
    ]
    assert by_post.id == by_users.id == created.id
    assert set(by_users.user_ids) == {TEST_USER_ID, GRACE}


async def test_get_dm_without_such_a_dm_is_not_found(client: DevRevClient) -> None:
    with pytest.raises(NotFound):
        await client.get_dm([TEST_USER_ID, GRACE])


async def test_update_chat_sets_records(client: DevRevClient, server: TestServer) -> None:
    created = await client.create_chat([TEST_USER_ID])
    sent(server).clear()
    await client.update_chat(created.id, records=[RECORD])
    assert sent(server)[0].body == {"id": created.id, "records": {"set": [RECORD]}}


async def test_private_comment_sends_visibility_and_private_to(
    client: DevRevClient, server: TestServer
) -> None:
    chat = await client.create_chat([TEST_USER_ID, GRACE])
    sent(server).clear()
    entry = await client.create_timeline_comment(chat.id, "psst", visibility="private", private_to=[GRACE])

    assert sent(server)[0].body == {
        "type": "timeline_comment",
        "object": chat.id,
        "body": "psst",
        "body_type": "text",
        "visibility": "private",
        "private_to": [GRACE],
    }
    assert entry is not None and (entry.visibility, entry.object, entry.object_type) == (
        "private",
        chat.id,
        "dm",
    )


async def test_one_page_and_the_last_page_has_no_next_cursor(client: DevRevClient) -> None:
    chat = await client.create_chat([TEST_USER_ID])
    for text in ("one", "two", "three"):
        await client.create_timeline_comment(chat.id, text)

    first = await client.list_timeline_entries(chat.id, limit=2)
    last = await client.list_timeline_entries(chat.id, cursor=first.next_cursor, limit=2)

    assert [e.body for e in first.timeline_entries] == ["one", "two"] and first.next_cursor
    assert [e.body for e in last.timeline_entries] == ["three"] and last.next_cursor is None


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.create_chat([]), "users"),
        (lambda c: c.create_chat("don:identity:dvrv-us-1:devo/0:devu/1"), "users"),
        (lambda c: c.create_chat([TEST_USER_ID], records=[RECORD] * 17), "records"),
        (lambda c: c.create_chat([TEST_USER_ID], title=5), "title"),
        (lambda c: c.update_chat("", title="x"), "id"),
        (lambda c: c.update_chat("dm", users=[TEST_USER_ID] * 17), "users"),
        (lambda c: c.create_timeline_comment("dm", "x", body_type="html"), "body_type"),
        (lambda c: c.create_timeline_comment("dm", "x", visibility="secret"), "visibility"),
        (lambda c: c.create_timeline_comment("dm", "x", artifacts=["a"] * 51), "artifacts"),
        (lambda c: c.list_timeline_entries("dm", limit=0), "limit"),
        (lambda c: c.get_chat(None), "id"),
    ],
)
async def test_documented_rules_are_checked_before_sending(
    client: DevRevClient, server: TestServer, call: Callable[[DevRevClient], Awaitable[Any]], field: str
) -> None:
    with pytest.raises(InvalidRequest) as error:
        await call(client)
    assert list(error.value.field_errors) == [field]
    assert error.value.provider == "devrev"
    assert sent(server) == []


# --- quirks the converter absorbs ---------------------------------------------------------------


def test_chat_with_int_ids_string_sizes_odd_dates_and_unknown_fields_is_read() -> None:
    raw = {
        "type": "dm",
        "id": 12,
        "display_id": "DM-12",
        "created_date": "2023-01-01T12:00:00.123456789Z",
        "modified_date": "2023-01-02 08:30:00",
        "created_by": {
            "id": 1,
            "type": "dev_user",
            "display_picture": {"id": "art/1", "file": {"name": "me.png", "size": "2048"}},
        },
        "modified_by": None,
        "title": None,
        "users": [{"id": "don:identity:dvrv-us-1:devo/0:devu/1", "state": "active", "brand_new": True}],
        "sync_metadata": {"origin_system": "x"},
        "future_field": [1, 2, 3],
    }
    chat = make_converter().structure(raw, DevRevChat)

    assert chat.id == "12" and chat.created_by is not None and chat.created_by.id == "1"
    assert chat.created_by.display_picture is not None and chat.created_by.display_picture.file is not None
    assert chat.created_by.display_picture.file.size == 2048
    assert chat.created_date == datetime(2023, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert chat.modified_date == datetime(2023, 1, 2, 8, 30, tzinfo=UTC)
    assert (chat.title, chat.modified_by, chat.user_ids) == (
        None,
        None,
        ("don:identity:dvrv-us-1:devo/0:devu/1",),
    )


def test_a_page_without_next_cursor_and_with_epoch_dates_is_read() -> None:
    page = make_converter().structure(
        {"timeline_entries": [{"id": "c/1", "created_date": 1_700_000_000_000, "body": "hi"}]},
        TimelineEntryList,
    )
    assert page.next_cursor is None
    assert page.timeline_entries[0].created_date == datetime.fromtimestamp(1_700_000_000, tz=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2023-01-01T12:00:00.000Z",
        "2023-01-01T12:00:00Z",
        "2023-01-01T14:00:00+02:00",
        "2023-01-01T12:00:00.000000001Z",
    ],
)
def test_date_forms_devrev_sends_are_the_same_moment(text: str) -> None:
    assert parse_date(text).replace(microsecond=0) == datetime(2023, 1, 1, 12, tzinfo=UTC)


def test_dates_are_written_in_devrevs_own_form() -> None:
    assert format_date(datetime(2023, 1, 1, 12, 0, 0, 5000, tzinfo=UTC)) == "2023-01-01T12:00:00.005Z"


def test_error_body_gives_type_message_field_and_retry_after() -> None:
    details = parse_error(
        400,
        {
            "type": "missing_required_field",
            "message": "users is required",
            "detail": "",
            "field_name": "users",
        },
    )
    throttled = parse_error(429, {"type": "too_many_requests", "message": "slow down", "retry_after": "7"})
    route = parse_error(404, {"message": "route not found"})
    text = parse_error(502, "Bad gateway")

    assert (details.code, details.message, dict(details.field_errors)) == (
        "missing_required_field",
        "users is required",
        {"users": ["users is required"]},
    )
    assert (throttled.code, throttled.retry_after) == ("too_many_requests", 7.0)
    assert (route.code, route.message) == (None, "route not found")
    assert text.message == "Bad gateway"
