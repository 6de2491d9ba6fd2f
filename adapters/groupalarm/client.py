"""The typed GroupAlarm Messenger client: every documented chat endpoint, validated before it is sent."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import aiohttp

from adapters.groupalarm.models import (
    DEFAULT_BASE_URL,
    Chatroom,
    ChatroomInput,
    ChatroomPage,
    Paths,
    SentMessage,
    make_converter,
)
from framework.errors import InvalidRequest, ProviderError
from framework.http import ErrorDetails, HttpClient, HttpSettings, default_error_parser

__all__ = ["MAX_LIMIT", "PROVIDER", "GroupAlarmClient", "parse_error"]

log = logging.getLogger("chatwright.adapters.groupalarm")

PROVIDER = "groupalarm"
MIN_LIMIT, MAX_LIMIT = 1, 50
"""The documented range of `limit` on `GET /chatrooms`."""
INT64_MAX = 2**63 - 1

T = TypeVar("T")


def parse_error(status: int, body: Any) -> ErrorDetails:
    """Read GroupAlarm's error body (undocumented; `{message}` is our guess, other shapes use the default)."""
    if isinstance(body, Mapping) and isinstance(body.get("message"), str) and body["message"]:
        return ErrorDetails(message=body["message"])
    return default_error_parser(status, body)


class _Checks:
    """Collects every field error of one call, so a single InvalidRequest names them all."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, why: str) -> None:
        self.errors.setdefault(field, []).append(why)

    def id(self, field: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(field, f"must be an integer, got {value!r}")
        elif not 1 <= value <= INT64_MAX:
            self.add(field, f"must be a positive int64, got {value}")

    def ids(self, field: str, values: Any) -> None:
        if isinstance(values, str | bytes) or not isinstance(values, Iterable):
            self.add(field, "must be a list of integer user ids")
            return
        for index, value in enumerate(values):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INT64_MAX:
                self.add(field, f"item {index} must be a positive int64 user id, got {value!r}")

    def text(self, field: str, value: Any) -> None:
        if not isinstance(value, str) or not value.strip():
            self.add(field, "must be a non-empty string")

    def raise_if_any(self, operation: str) -> None:
        if self.errors:
            fields = ", ".join(sorted(self.errors))
            raise InvalidRequest(
                f"{operation}: invalid {fields}", field_errors=self.errors, provider=PROVIDER
            )


class GroupAlarmClient:
    """GroupAlarm's chat service, one method per documented endpoint.

    Authenticates with an organization `API-TOKEN` or a user's `Personal-Access-Token` (exactly one).
    Calls that are safe to repeat (GET, PUT, DELETE) are retried on 5xx; creating rooms and sending
    messages are retried only when the service cannot have acted (no connection, 429).
    """

    def __init__(
        self,
        *,
        api_token: str | None = None,
        personal_access_token: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        paths: Paths | None = None,
        settings: HttpSettings | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if bool(api_token) == bool(personal_access_token):
            raise ValueError("GroupAlarm: give exactly one of api_token or personal_access_token")
        header = (
            {"API-TOKEN": api_token} if api_token else {"Personal-Access-Token": str(personal_access_token)}
        )
        self.paths = paths or Paths()
        self.converter = make_converter()
        self.http = HttpClient(
            provider=PROVIDER,
            base_url=base_url,
            settings=settings,
            headers=header,
            error_parser=parse_error,
            session=session,
        )

    async def close(self) -> None:
        await self.http.close()

    def _structure(self, body: Any, kind: type[T], operation: str) -> T:
        if body is None:
            raise ProviderError(f"{operation}: the answer had no body", provider=PROVIDER)
        try:
            return self.converter.structure(body, kind)
        except Exception as error:
            raise ProviderError(
                f"{operation}: unexpected answer: {error!r}", provider=PROVIDER, body=body
            ) from error

    async def get_event_chatroom(self, organization_id: int, event_id: int) -> Chatroom:
        """`GET /chatroom?organization_id=&event_id=`: the chatroom of an alarm event."""
        checks = _Checks()
        checks.id("organization_id", organization_id)
        checks.id("event_id", event_id)
        checks.raise_if_any("get_event_chatroom")
        body = await self.http.request(
            "GET",
            self.paths.event_chatroom,
            params={"organization_id": organization_id, "event_id": event_id},
            idempotent=True,
        )
        return self._structure(body, Chatroom, "get_event_chatroom")

    async def list_chatrooms(
        self, organization_id: int | None = None, *, limit: int = 10, offset: int = 0
    ) -> ChatroomPage:
        """`GET /chatrooms?organization_id=&limit=&offset=`: one page (`limit` 1..50).

        Without `organization_id` (personal access tokens only) it lists the user's assigned chatrooms.
        """
        checks = _Checks()
        if organization_id is not None:
            checks.id("organization_id", organization_id)
        if isinstance(limit, bool) or not isinstance(limit, int) or not MIN_LIMIT <= limit <= MAX_LIMIT:
            checks.add("limit", f"must be an integer from {MIN_LIMIT} to {MAX_LIMIT}, got {limit!r}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            checks.add("offset", f"must be an integer >= 0, got {offset!r}")
        checks.raise_if_any("list_chatrooms")
        body = await self.http.request(
            "GET",
            self.paths.list_chatrooms,
            params={"organization_id": organization_id, "limit": limit, "offset": offset},
            idempotent=True,
        )
        return self._structure(body, ChatroomPage, "list_chatrooms")

    async def list_all_chatrooms(self, organization_id: int | None = None) -> ChatroomPage:
        """`GET /chatrooms?organization_id=&all=true`: every chatroom in one answer, no paging."""
        checks = _Checks()
        if organization_id is not None:
            checks.id("organization_id", organization_id)
        checks.raise_if_any("list_all_chatrooms")
        body = await self.http.request(
            "GET",
            self.paths.list_chatrooms,
            params={"organization_id": organization_id, "all": True},
            idempotent=True,
        )
        return self._structure(body, ChatroomPage, "list_all_chatrooms")

    async def create_chatroom(
        self, organization_id: int, name: str, assigned_users: Iterable[int]
    ) -> Chatroom:
        """`POST /chatroom` `{assignedUsers, name, organizationID}`: a new custom room (not repeatable)."""
        room = self._room_input("create_chatroom", organization_id, name, assigned_users)
        body = await self.http.request(
            "POST", self.paths.create_chatroom, json=self.converter.unstructure(room), idempotent=False
        )
        return self._structure(body, Chatroom, "create_chatroom")

    async def create_default_chatroom(self, organization_id: int) -> Chatroom:
        """`POST /chatroom/default/{organizationID}`: the organization's one default chatroom.

        Not retried after a possible delivery: a second try would answer that it already exists.
        """
        checks = _Checks()
        checks.id("organizationID", organization_id)
        checks.raise_if_any("create_default_chatroom")
        path = Paths.fill(self.paths.create_default_chatroom, organization_id=organization_id)
        body = await self.http.request("POST", path, idempotent=False)
        return self._structure(body, Chatroom, "create_default_chatroom")

    async def remove_default_chatroom(self, organization_id: int) -> None:
        """`DELETE /chatroom/default/{organizationID}`."""
        checks = _Checks()
        checks.id("organizationID", organization_id)
        checks.raise_if_any("remove_default_chatroom")
        path = Paths.fill(self.paths.remove_default_chatroom, organization_id=organization_id)
        await self.http.request("DELETE", path, idempotent=True)

    async def get_chatroom(self, room_id: int) -> Chatroom:
        """`GET /chatroom/{roomID}`."""
        self._check_room("get_chatroom", room_id)
        body = await self.http.request(
            "GET", Paths.fill(self.paths.get_chatroom, room_id=room_id), idempotent=True
        )
        return self._structure(body, Chatroom, "get_chatroom")

    async def update_chatroom(
        self, room_id: int, *, organization_id: int, name: str, assigned_users: Iterable[int]
    ) -> Chatroom | None:
        """`PUT /chatroom/{roomID}` with the whole `{assignedUsers, name, organizationID}` (safe to repeat).

        The spec documents no answer body: returns the chatroom when one comes back, else None.
        """
        self._check_room("update_chatroom", room_id)
        room = self._room_input("update_chatroom", organization_id, name, assigned_users)
        body = await self.http.request(
            "PUT",
            Paths.fill(self.paths.update_chatroom, room_id=room_id),
            json=self.converter.unstructure(room),
            idempotent=True,
        )
        if not isinstance(body, Mapping):
            return None
        return self._structure(body, Chatroom, "update_chatroom")

    async def delete_chatroom(self, room_id: int) -> None:
        """`DELETE /chatroom/{roomID}`: deleted rooms cannot be restored."""
        self._check_room("delete_chatroom", room_id)
        await self.http.request(
            "DELETE", Paths.fill(self.paths.delete_chatroom, room_id=room_id), idempotent=True
        )

    async def set_avatar(
        self, room_id: int, image: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        """`PUT /chatroom/{roomID}/avatar` with the image as the raw body; an empty body removes it."""
        self._check_room("set_avatar", room_id)
        if not isinstance(image, bytes | bytearray):
            raise InvalidRequest(
                "set_avatar: invalid avatar",
                field_errors={"avatar": [f"must be bytes, got {type(image).__name__}"]},
                provider=PROVIDER,
            )
        headers = {"Content-Type": content_type} if image else None
        await self.http.request(
            "PUT",
            Paths.fill(self.paths.set_avatar, room_id=room_id),
            data=bytes(image),
            headers=headers,
            idempotent=True,
        )

    async def remove_avatar(self, room_id: int) -> None:
        """`PUT /chatroom/{roomID}/avatar` with an empty body."""
        await self.set_avatar(room_id, b"")

    async def send_message(self, room_id: int, message: str) -> SentMessage | None:
        """`POST /chatroom/{roomID}/message` `{message}` (not safe to repeat).

        The spec shows no answer: returns the message when the service sends one back, else None.
        """
        checks = _Checks()
        checks.id("roomID", room_id)
        checks.text("message", message)
        checks.raise_if_any("send_message")
        body = await self.http.request(
            "POST",
            Paths.fill(self.paths.send_message, room_id=room_id),
            json={"message": message},
            idempotent=False,
        )
        if not isinstance(body, Mapping):
            return None
        return self._structure(body, SentMessage, "send_message")

    @staticmethod
    def _check_room(operation: str, room_id: int) -> None:
        checks = _Checks()
        checks.id("roomID", room_id)
        checks.raise_if_any(operation)

    @staticmethod
    def _room_input(
        operation: str, organization_id: int, name: str, assigned_users: Iterable[int]
    ) -> ChatroomInput:
        checks = _Checks()
        checks.id("organizationID", organization_id)
        checks.text("name", name)
        users = assigned_users
        if not isinstance(users, str | bytes) and isinstance(users, Iterable):
            users = tuple(users)
        checks.ids("assignedUsers", users)
        checks.raise_if_any(operation)
        return ChatroomInput(assigned_users=tuple(users), name=name, organization_id=organization_id)
