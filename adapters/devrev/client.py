"""The typed DevRev client: every documented chat and timeline endpoint, validated before it is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, TypeVar

import aiohttp
import cattrs

from framework.errors import InvalidRequest, ProviderError
from framework.http import ErrorDetails, HttpClient, HttpSettings, default_error_parser

from .models import ApiError, DevRevChat, TimelineEntry, TimelineEntryList, make_converter

__all__ = [
    "BODY_TYPES",
    "DEFAULT_BASE_URL",
    "MAX_ARTIFACTS",
    "MAX_RECORDS",
    "MAX_USERS",
    "PROVIDER",
    "VISIBILITIES",
    "DevRevClient",
    "parse_error",
]

PROVIDER = "devrev"
DEFAULT_BASE_URL = "https://api.devrev.ai"
MAX_USERS = 16
"""A DM has 1..16 users."""
MAX_RECORDS = 16
MAX_ARTIFACTS = 50
BODY_TYPES = frozenset({"data", "snap_kit", "snap_widget", "text"})
VISIBILITIES = frozenset({"external", "internal", "private", "public"})

T = TypeVar("T")

_converter = make_converter()


def parse_error(status: int, body: Any) -> ErrorDetails:
    """Read DevRev's `{type, message, detail}` error body (and its `field_name`, `retry_after`)."""
    if not isinstance(body, Mapping):
        return default_error_parser(status, body)
    try:
        error = _converter.structure(body, ApiError)
    except (cattrs.BaseValidationError, ValueError, TypeError):
        return default_error_parser(status, body)
    message = error.message or error.detail or f"HTTP {status}"
    field_errors = {error.field_name: [message]} if error.field_name else {}
    return ErrorDetails(
        message=message, code=error.type, field_errors=field_errors, retry_after=error.retry_after
    )


def _invalid(field: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {why}", field_errors={field: [why]}, provider=PROVIDER)


def _object_id(field: str, value: str | int) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _invalid(field, f"expected an id (string or integer), got {value!r}")
    text = str(value).strip()
    if not text:
        raise _invalid(field, "must not be empty")
    return text


def _title(title: str | None) -> str | None:
    if title is not None and not isinstance(title, str):
        raise _invalid("title", f"expected a string, got {title!r}")
    return title


def _id_list(
    field: str, values: Iterable[str | int], *, minimum: int = 0, maximum: int | None = None
) -> list[str]:
    if isinstance(values, str | bytes):
        raise _invalid(field, "expected a list of ids, got a single string")
    ids = [_object_id(field, value) for value in values]
    if len(ids) < minimum or (maximum is not None and len(ids) > maximum):
        limits = f"{minimum}..{maximum}" if maximum is not None else f"at least {minimum}"
        raise _invalid(field, f"expected {limits} ids, got {len(ids)}")
    return ids


class DevRevClient:
    """DevRev's chat endpoints (`chats.*`) and message endpoints (`timeline-entries.*`), typed.

    Calls safe to repeat (reads, `chats.update`, `chats.create` with `get_if_conflict`) are retried after
    5xx answers; posting a comment is retried only when DevRev cannot have acted on it (429, no connection).
    """

    def __init__(
        self,
        *,
        token: str,
        base_url: str = DEFAULT_BASE_URL,
        settings: HttpSettings | None = None,
        api_version: str | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if not token:
            raise ValueError("a DevRev token is required")
        headers = {"Authorization": f"Bearer {token}"}
        if api_version:
            headers["X-Devrev-Version"] = api_version
        self.http = HttpClient(
            provider=PROVIDER,
            base_url=base_url,
            settings=settings,
            headers=headers,
            error_parser=parse_error,
            session=session,
        )

    async def close(self) -> None:
        await self.http.close()

    def _structure(self, data: Any, key: str, cls: type[T]) -> T:
        value = data.get(key) if isinstance(data, Mapping) else None
        if value is None:
            raise ProviderError(f"answer has no {key!r} object", provider=PROVIDER, body=data)
        try:
            return _converter.structure(value, cls)
        except (cattrs.BaseValidationError, ValueError, TypeError) as error:
            raise ProviderError(f"cannot read {key!r}: {error}", provider=PROVIDER, body=data) from error

    async def create_chat(
        self,
        users: Iterable[str | int],
        *,
        title: str | None = None,
        get_if_conflict: bool | None = None,
        is_default: bool | None = None,
        records: Iterable[str | int] | None = None,
    ) -> DevRevChat:
        """`POST /chats.create`: a DM among 1..16 users, the caller included (201 `{chat}`).

        A default DM for the same users answers 409 unless `get_if_conflict`, which returns the existing one;
        that makes the call safe to repeat, so it is retried after a 5xx (unless `is_default` is false).
        """
        body: dict[str, Any] = {"type": "dm", "users": _id_list("users", users, minimum=1, maximum=MAX_USERS)}
        if _title(title) is not None:
            body["title"] = title
        if get_if_conflict is not None:
            body["get_if_conflict"] = bool(get_if_conflict)
        if is_default is not None:
            body["is_default"] = bool(is_default)
        if records is not None:
            body["records"] = _id_list("records", records, maximum=MAX_RECORDS)
        safe = get_if_conflict is True and is_default is not False
        data = await self.http.request("POST", "/chats.create", json=body, idempotent=safe)
        return self._structure(data, "chat", DevRevChat)

    async def get_chat(self, chat_id: str | int, *, use_post: bool = False) -> DevRevChat:
        """`GET /chats.get?id=` (or `POST /chats.get {id}` with `use_post`); 404 `not_found`."""
        chat = _object_id("id", chat_id)
        if use_post:
            data = await self.http.request("POST", "/chats.get", json={"id": chat}, idempotent=True)
        else:
            data = await self.http.request("GET", "/chats.get", params={"id": chat})
        return self._structure(data, "chat", DevRevChat)

    async def get_dm(self, users: Iterable[str | int]) -> DevRevChat:
        """`POST /chats.get {type: "dm", users}`: the default DM among exactly these users; 404 when none."""
        body = {"type": "dm", "users": _id_list("users", users, minimum=1, maximum=MAX_USERS)}
        data = await self.http.request("POST", "/chats.get", json=body, idempotent=True)
        return self._structure(data, "chat", DevRevChat)

    async def update_chat(
        self,
        chat_id: str | int,
        *,
        title: str | None = None,
        users: Iterable[str | int] | None = None,
        records: Iterable[str | int] | None = None,
    ) -> DevRevChat | None:
        """`POST /chats.update`: set the title, replace the users and/or the records (200 `{chat}`).

        Every change sets an absolute value, so the call is safe to repeat. None when DevRev answered no body.
        """
        body: dict[str, Any] = {"id": _object_id("id", chat_id)}
        if _title(title) is not None:
            body["title"] = title
        if users is not None:
            body["users"] = {"set": _id_list("users", users, minimum=1, maximum=MAX_USERS)}
        if records is not None:
            body["records"] = {"set": _id_list("records", records, maximum=MAX_RECORDS)}
        data = await self.http.request("POST", "/chats.update", json=body, idempotent=True)
        return None if data is None else self._structure(data, "chat", DevRevChat)

    async def create_timeline_comment(
        self,
        object_id: str | int,
        body: str,
        *,
        body_type: str = "text",
        visibility: str | None = None,
        private_to: Iterable[str | int] | None = None,
        artifacts: Iterable[str | int] | None = None,
    ) -> TimelineEntry | None:
        """`POST /timeline-entries.create`: a comment on a chat (or any object); 201 `{timeline_entry}`.

        Not safe to repeat: a retry after a lost answer would post the comment twice. None when DevRev
        answered no body.
        """
        if body_type not in BODY_TYPES:
            raise _invalid("body_type", f"expected one of {', '.join(sorted(BODY_TYPES))}, got {body_type!r}")
        payload: dict[str, Any] = {
            "type": "timeline_comment",
            "object": _object_id("object", object_id),
            "body": body,
            "body_type": body_type,
        }
        if visibility is not None:
            if visibility not in VISIBILITIES:
                raise _invalid(
                    "visibility", f"expected one of {', '.join(sorted(VISIBILITIES))}, got {visibility!r}"
                )
            payload["visibility"] = visibility
        if private_to is not None:
            payload["private_to"] = _id_list("private_to", private_to)
        if artifacts is not None:
            payload["artifacts"] = _id_list("artifacts", artifacts, maximum=MAX_ARTIFACTS)
        data = await self.http.request("POST", "/timeline-entries.create", json=payload, idempotent=False)
        return None if data is None else self._structure(data, "timeline_entry", TimelineEntry)

    async def list_timeline_entries(
        self, object_id: str | int, *, cursor: str | None = None, limit: int | None = None
    ) -> TimelineEntryList:
        """`POST /timeline-entries.list`: one page (DevRev's default limit is 50); follow `next_cursor`."""
        payload: dict[str, Any] = {"object": _object_id("object", object_id)}
        if cursor is not None:
            payload["cursor"] = cursor
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise _invalid("limit", f"expected a positive integer, got {limit!r}")
            payload["limit"] = limit
        data = await self.http.request("POST", "/timeline-entries.list", json=payload, idempotent=True)
        if not isinstance(data, Mapping):
            raise ProviderError("timeline-entries.list answered no page", provider=PROVIDER, body=data)
        try:
            return _converter.structure(data, TimelineEntryList)
        except (cattrs.BaseValidationError, ValueError, TypeError) as error:
            raise ProviderError(f"cannot read the page: {error}", provider=PROVIDER, body=data) from error

    async def iter_timeline_entries(
        self, object_id: str | int, *, limit: int | None = None
    ) -> AsyncIterator[TimelineEntry]:
        """Every entry of an object's timeline, page after page until a page has no `next_cursor`."""
        cursor: str | None = None
        while True:
            page = await self.list_timeline_entries(object_id, cursor=cursor, limit=limit)
            for entry in page.timeline_entries:
                yield entry
            if not page.next_cursor or page.next_cursor == cursor:
                return
            cursor = page.next_cursor
