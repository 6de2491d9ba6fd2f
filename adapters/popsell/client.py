"""The typed Popsell API v2 client: every documented endpoint, token handling, and validation before sending.

Auth: `POST /auth/token` (header `X-Popsell-Domain`, body `{api_key}`) gives a token; every later call sends
`Authorization: Bearer <token>` and `X-Popsell-Brand`. A 401 means the call was not acted on, so the client
fetches a new token once and repeats the call once. Concurrent calls share one token fetch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, TypeVar

import aiohttp
import cattrs

from adapters.popsell.models import (
    TYPE_MESSAGE_TEXT,
    ChatMessage,
    Chatroom,
    ChatroomPivot,
    Page,
    Token,
    make_converter,
)
from framework.errors import AuthError, InvalidRequest, ProviderError
from framework.http import ErrorDetails, HttpClient, HttpSettings

__all__ = ["PROVIDER", "SOURCES", "PopsellClient", "parse_error"]

PROVIDER = "popsell"
SOURCES = (0, 1, 2)
"""`source` of a chatroom: 0 direct, 1 waiting list, 2 hot list."""

FORBIDDEN_MESSAGE = "Forbidden - You don't have permission to access this route"

log = logging.getLogger("chatwright.adapters.popsell")

T = TypeVar("T")


def parse_error(status: int, body: Any) -> ErrorDetails:
    """Read Popsell's errors: `{message}` (401, 429, 5xx), none (403), text (404), `{message, errors}`."""
    if isinstance(body, Mapping):
        message = str(body.get("message") or f"HTTP {status}")
        errors = body.get("errors")
        field_errors: dict[str, list[str]] = {}
        if isinstance(errors, Mapping):
            for field, reasons in errors.items():
                listed = reasons if isinstance(reasons, list) else [reasons]
                field_errors[str(field)] = [str(reason) for reason in listed]
        return ErrorDetails(message=message, field_errors=field_errors)
    if isinstance(body, str) and body.strip():
        return ErrorDetails(message=body.strip()[:500])
    if status == 403:
        return ErrorDetails(message=FORBIDDEN_MESSAGE)
    return ErrorDetails(message=f"HTTP {status}")


def _invalid(field: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {why}", field_errors={field: [why]}, provider=PROVIDER)


def _require_int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(field, f"must be an integer, got {value!r}")
    return value


class PopsellClient:
    """Every documented Popsell API v2 endpoint as a typed method; owns one HttpClient."""

    def __init__(
        self,
        *,
        base_url: str,
        domain: str,
        api_key: str,
        brand_id: int,
        settings: HttpSettings | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.domain = domain
        self.brand_id = brand_id
        self._api_key = api_key
        self._token: str | None = None
        self._token_lock = asyncio.Lock()
        self._converter = make_converter()
        # Laravel answers validation errors with a redirect unless the caller asks for JSON.
        self.http = HttpClient(
            provider=PROVIDER,
            base_url=base_url,
            settings=settings,
            headers={"Accept": "application/json"},
            error_parser=parse_error,
            session=session,
        )

    async def close(self) -> None:
        await self.http.close()

    # -- auth ------------------------------------------------------------------------------------------------

    async def authenticate(self) -> str:
        """`POST /auth/token`: fetch a fresh token (safe to repeat) and use it for the calls that follow."""
        body = await self.http.request(
            "POST",
            "/auth/token",
            json={"api_key": self._api_key},
            headers={"X-Popsell-Domain": self.domain},
            idempotent=True,
        )
        token = self._structure(body, Token).token
        self._token = token
        log.debug("popsell: fetched a new token for domain %s", self.domain)
        return token

    async def _current_token(self) -> str:
        if self._token is not None:
            return self._token
        async with self._token_lock:
            if self._token is None:
                await self.authenticate()
            assert self._token is not None
            return self._token

    async def _renew_token(self, rejected: str) -> str:
        async with self._token_lock:
            # Another call may already have replaced the rejected token while we waited for the lock.
            if self._token is None or self._token == rejected:
                self._token = None
                await self.authenticate()
            assert self._token is not None
            return self._token

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool,
    ) -> Any:
        token = await self._current_token()
        try:
            return await self._send(method, path, token, json, params, idempotent)
        except AuthError as error:
            if error.status != 401:
                raise
            log.debug("popsell: %s %s answered 401; fetching a new token and repeating once", method, path)
        token = await self._renew_token(token)
        return await self._send(method, path, token, json, params, idempotent)

    async def _send(
        self,
        method: str,
        path: str,
        token: str,
        json: Any,
        params: Mapping[str, Any] | None,
        idempotent: bool,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}", "X-Popsell-Brand": str(self.brand_id)}
        return await self.http.request(
            method, path, json=json, params=params, headers=headers, idempotent=idempotent
        )

    def _structure(self, body: Any, kind: type[T]) -> T:
        try:
            return self._converter.structure(body, kind)
        except (cattrs.BaseValidationError, ValueError, TypeError) as error:
            problems = (
                "; ".join(cattrs.transform_error(error))
                if isinstance(error, cattrs.BaseValidationError)
                else str(error)
            )
            raise ProviderError(
                f"unexpected answer shape for {getattr(kind, '__name__', kind)}: {problems}",
                provider=PROVIDER,
                body=body,
            ) from error

    # -- chatrooms -------------------------------------------------------------------------------------------

    async def create_chatroom(
        self,
        *,
        source: int,
        ids_ambassadors: Sequence[int] | None = None,
        id_brand_tag: int | None = None,
    ) -> Chatroom:
        """`POST /chat/chatrooms`: two ambassadors XOR a brand tag, and a source 0|1|2 (never repeated)."""
        if ids_ambassadors is not None and id_brand_tag is not None:
            why = "give either ids_ambassadors or id_brand_tag, not both"
            raise InvalidRequest(
                why, field_errors={"ids_ambassadors": [why], "id_brand_tag": [why]}, provider=PROVIDER
            )
        if ids_ambassadors is None and id_brand_tag is None:
            why = "give either ids_ambassadors (two ambassador ids) or id_brand_tag"
            raise InvalidRequest(
                why, field_errors={"ids_ambassadors": [why], "id_brand_tag": [why]}, provider=PROVIDER
            )
        body: dict[str, Any] = {}
        if ids_ambassadors is not None:
            ids = [_require_int(value, "ids_ambassadors") for value in ids_ambassadors]
            if len(ids) != 2:
                raise _invalid("ids_ambassadors", f"must contain exactly two ambassador ids, got {len(ids)}")
            body["ids_ambassadors"] = ids
        if id_brand_tag is not None:
            body["id_brand_tag"] = _require_int(id_brand_tag, "id_brand_tag")
        if _require_int(source, "source") not in SOURCES:
            raise _invalid("source", f"must be 0 (direct), 1 (waiting list) or 2 (hot list), got {source}")
        body["source"] = source
        answer = await self._call("POST", "/chat/chatrooms", json=body, idempotent=False)
        if answer is None:
            raise ProviderError(
                "Popsell accepted the chatroom but answered no body, so its id is unknown; it may exist: "
                "look it up with list_ambassador_chatrooms before creating it again",
                provider=PROVIDER,
            )
        return self._structure(answer, Chatroom)

    async def get_chatroom(self, chatroom_id: int) -> Chatroom:
        """`GET /chat/chatrooms/{id}`."""
        chatroom_id = _require_int(chatroom_id, "chatroom_id")
        answer = await self._call("GET", f"/chat/chatrooms/{chatroom_id}", idempotent=True)
        return self._structure(answer, Chatroom)

    async def list_ambassador_chatrooms(
        self,
        ambassador_id: int,
        *,
        page: int | None = None,
        archived: bool | None = None,
        type_chatroom: int | None = None,
        filters: Mapping[str, str | int] | None = None,
    ) -> Page[Chatroom]:
        """`GET /chat/ambassadors/{ambassador}/chatrooms`: one page; `filters` adds `filter[...]` keys."""
        ambassador_id = _require_int(ambassador_id, "ambassador_id")
        params: dict[str, Any] = {f"filter[{key}]": value for key, value in (filters or {}).items()}
        if archived is not None:
            # Laravel's boolean rule takes 1/0, not the strings "true"/"false".
            params["filter[archived]"] = int(archived)
        if type_chatroom is not None:
            params["filter[type_chatroom]"] = _require_int(type_chatroom, "type_chatroom")
        if page is not None:
            params["page"] = _require_int(page, "page")
        answer = await self._call(
            "GET", f"/chat/ambassadors/{ambassador_id}/chatrooms", params=params, idempotent=True
        )
        return self._structure(answer, Page[Chatroom])

    async def iter_ambassador_chatrooms(
        self,
        ambassador_id: int,
        *,
        archived: bool | None = None,
        type_chatroom: int | None = None,
        filters: Mapping[str, str | int] | None = None,
    ) -> AsyncIterator[Chatroom]:
        """Every chatroom of the ambassador, page after page."""
        page_number = 1
        while True:
            page = await self.list_ambassador_chatrooms(
                ambassador_id,
                page=page_number,
                archived=archived,
                type_chatroom=type_chatroom,
                filters=filters,
            )
            for chatroom in page.data:
                yield chatroom
            if not page.has_more:
                return
            page_number = page.current_page + 1

    # -- messages --------------------------------------------------------------------------------------------

    async def list_messages(self, chatroom_id: int, *, page: int | None = None) -> Page[ChatMessage]:
        """`GET /chat/chatrooms/{chatroom}/messages`: one page."""
        chatroom_id = _require_int(chatroom_id, "chatroom_id")
        params = {"page": _require_int(page, "page")} if page is not None else None
        answer = await self._call(
            "GET", f"/chat/chatrooms/{chatroom_id}/messages", params=params, idempotent=True
        )
        return self._structure(answer, Page[ChatMessage])

    async def iter_messages(self, chatroom_id: int) -> AsyncIterator[ChatMessage]:
        """Every message of the chatroom, page after page, in the order Popsell lists them."""
        page_number = 1
        while True:
            page = await self.list_messages(chatroom_id, page=page_number)
            for message in page.data:
                yield message
            if not page.has_more:
                return
            page_number = page.current_page + 1

    async def post_message(
        self,
        chatroom_id: int,
        *,
        id_ambassador: int,
        content: str,
        type_message: int = TYPE_MESSAGE_TEXT,
    ) -> ChatMessage | None:
        """`POST /chat/chatrooms/{chatroom}/messages` (201; never repeated); None for an empty answer."""
        chatroom_id = _require_int(chatroom_id, "chatroom_id")
        if not isinstance(content, str):
            raise _invalid("content", f"must be a string, got {type(content).__name__}")
        body = {
            "id_ambassador": _require_int(id_ambassador, "id_ambassador"),
            "content": content,
            "type_message": _require_int(type_message, "type_message"),
        }
        answer = await self._call(
            "POST", f"/chat/chatrooms/{chatroom_id}/messages", json=body, idempotent=False
        )
        return None if answer is None else self._structure(answer, ChatMessage)

    # -- one ambassador's state in a chatroom ----------------------------------------------------------------

    async def archive(
        self, chatroom_id: int, ambassador_id: int, archive: bool = True
    ) -> ChatroomPivot | None:
        """`PATCH /chat/chatrooms/{chatroom}/ambassadors/{ambassador}/archive {archive}` (safe to repeat)."""
        return await self._pivot_call(
            "PATCH", chatroom_id, ambassador_id, "archive", {"archive": bool(archive)}
        )

    async def block(
        self, chatroom_id: int, ambassador_id: int, is_blocked: bool = True
    ) -> ChatroomPivot | None:
        """`PATCH /chat/chatrooms/{chatroom}/ambassadors/{ambassador}/block {is_blocked}` (safe to repeat)."""
        body = {"is_blocked": bool(is_blocked)}
        return await self._pivot_call("PATCH", chatroom_id, ambassador_id, "block", body)

    async def mark_read(self, chatroom_id: int, ambassador_id: int) -> ChatroomPivot | None:
        """`POST /chat/chatrooms/{chatroom}/ambassadors/{ambassador}/read` (safe to repeat)."""
        return await self._pivot_call("POST", chatroom_id, ambassador_id, "read", None)

    async def _pivot_call(
        self, method: str, chatroom_id: int, ambassador_id: int, action: str, body: dict[str, Any] | None
    ) -> ChatroomPivot | None:
        chatroom_id = _require_int(chatroom_id, "chatroom_id")
        ambassador_id = _require_int(ambassador_id, "ambassador_id")
        path = f"/chat/chatrooms/{chatroom_id}/ambassadors/{ambassador_id}/{action}"
        answer = await self._call(method, path, json=body, idempotent=True)
        # The answer is not documented: keep it when it reads as the ambassador's pivot, else accept it.
        if isinstance(answer, Mapping) and "id_chatroom" in answer:
            return self._structure(answer, ChatroomPivot)
        return None
