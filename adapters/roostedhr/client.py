"""The typed RoostedHR API 1_12 client: every documented chat endpoint, validated before sending."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import cattrs

from framework.errors import InvalidRequest, ProviderError
from framework.http import ErrorDetails, HttpClient, HttpSettings

from .models import ChatPage, MessagePage, RoostedChat, RoostedMessage, make_converter

__all__ = ["DEFAULT_BASE_URL", "PROVIDER", "SANDBOX_BASE_URL", "RoostedHRClient", "parse_error"]

PROVIDER = "roostedhr"
DEFAULT_BASE_URL = "https://api.roostedhr.com/api/1_12"
SANDBOX_BASE_URL = "https://sandbox.roostedhr.com/api/1_12"

log = logging.getLogger("chatwright.adapters.roostedhr")

T = TypeVar("T")


def parse_error(status: int, body: Any) -> ErrorDetails:
    """Read RoostedHR's error body `{message}` (or a plain text answer)."""
    if isinstance(body, Mapping):
        message = body.get("message")
        if isinstance(message, str) and message.strip():
            return ErrorDetails(message=message.strip())
        return ErrorDetails(message=f"HTTP {status}")
    if isinstance(body, str) and body.strip():
        return ErrorDetails(message=body.strip()[:500])
    return ErrorDetails(message=f"HTTP {status}")


def _invalid(field: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {why}", field_errors={field: [why]}, provider=PROVIDER)


def _id(field: str, value: str | int) -> str:
    """An id as the provider wants it (a non-empty string), from a str or an int."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _invalid(field, f"expected a string or integer id, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise _invalid(field, "must not be empty")
    return text


def _member_list(members: Iterable[str | int]) -> list[str]:
    if isinstance(members, str | bytes) or not isinstance(members, Iterable):
        raise _invalid("members", "expected an array of worker IDs")
    ids: list[str] = []
    problems: list[str] = []
    for index, member in enumerate(members):
        if isinstance(member, bool) or not isinstance(member, str | int) or not str(member).strip():
            problems.append(f"item {index}: expected a worker ID (non-empty string), got {member!r}")
        else:
            ids.append(str(member).strip())
    if problems:
        raise InvalidRequest(
            "members: " + "; ".join(problems), field_errors={"members": problems}, provider=PROVIDER
        )
    return ids


def _text(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid(field, f"expected a string, got {type(value).__name__}")
    if not value.strip():
        raise _invalid(field, "must not be empty")
    return value


def _limit(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _invalid("limit", f"expected a positive integer, got {value!r}")
    return value


class RoostedHRClient:
    """RoostedHR's chat endpoints, acting as worker `worker_id` and authenticated with `X-API-KEY`.

    GETs and the PATCH (which sets a name or a member list) are safe to repeat; the two POSTs are not.
    """

    def __init__(
        self,
        *,
        api_key: str,
        worker_id: str | int,
        base_url: str = DEFAULT_BASE_URL,
        settings: HttpSettings | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise _invalid("api_key", "must not be empty")
        self.worker_id = _id("worker_id", worker_id)
        self._chats_root = f"/workers/{quote(self.worker_id, safe='')}/chats"
        self.http = HttpClient(
            provider=PROVIDER,
            base_url=base_url,
            settings=settings,
            headers={"X-API-KEY": api_key},
            error_parser=parse_error,
            session=session,
        )
        self.converter = make_converter()

    async def close(self) -> None:
        await self.http.close()

    def _chats_path(self, chat_id: str | int | None = None, *, messages: bool = False) -> str:
        path = self._chats_root
        if chat_id is not None:
            path += f"/{quote(_id('chat_id', chat_id), safe='')}"
        if messages:
            path += "/messages"
        return path

    def _structure(self, body: Any, kind: type[T], status: int) -> T:
        if not isinstance(body, Mapping):
            raise ProviderError(
                f"expected a JSON object, got {type(body).__name__}",
                provider=PROVIDER,
                status=status,
                body=body,
            )
        try:
            return self.converter.structure(body, kind)
        except (cattrs.BaseValidationError, ValueError, TypeError) as error:
            log.warning("roostedhr answered an unreadable %s: %s", kind.__name__, error)
            raise ProviderError(
                f"unreadable {kind.__name__} in the answer: {error}",
                provider=PROVIDER,
                status=status,
                body=body,
            ) from error

    async def list_chats(
        self,
        *,
        all_chats: bool | None = None,
        search_term: str | None = None,
        last_seen_id: str | int | None = None,
        limit: int | None = None,
    ) -> ChatPage:
        """`GET /workers/{id}/chats`: one page of chats (items without `members`)."""
        params: dict[str, Any] = {}
        if all_chats is not None:
            if not isinstance(all_chats, bool):
                raise _invalid("all_chats", f"expected a boolean, got {all_chats!r}")
            params["all_chats"] = all_chats
        if search_term is not None:
            if not isinstance(search_term, str):
                raise _invalid("search_term", f"expected a string, got {type(search_term).__name__}")
            params["search_term"] = search_term
        if last_seen_id is not None:
            params["last_seen_id"] = _id("last_seen_id", last_seen_id)
        params["limit"] = _limit(limit)
        body = await self.http.request("GET", self._chats_path(), params=params)
        return self._structure(body, ChatPage, 200)

    async def get_chat(self, chat_id: str | int) -> RoostedChat:
        """`GET /workers/{id}/chats/{chat_id}`: one chat, with its members."""
        body = await self.http.request("GET", self._chats_path(chat_id))
        return self._structure(body, RoostedChat, 200)

    async def create_chat(self, members: Iterable[str | int], name: str | None = None) -> RoostedChat:
        """`POST /workers/{id}/chats` `{members, name}`; without a name the chat is named after its members.

        Not safe to repeat: a retry after a lost answer would create a second chat.
        """
        payload: dict[str, Any] = {"members": _member_list(members)}
        if name is not None:
            payload["name"] = _text("name", name)
        body = await self.http.request("POST", self._chats_path(), json=payload, idempotent=False)
        if body is None:
            raise ProviderError(
                "the chat was created but the answer carried no chat (no id to return)", provider=PROVIDER
            )
        return self._structure(body, RoostedChat, 201)

    async def update_chat(
        self,
        chat_id: str | int,
        *,
        name: str | None = None,
        members: Iterable[str | int] | None = None,
    ) -> RoostedChat | None:
        """`PATCH /workers/{id}/chats/{chat_id}` with only the given fields; `members` replaces the list.

        Safe to repeat (it sets values). Returns None when the provider answered no body.
        """
        payload: dict[str, Any] = {}
        if name is not None:
            payload["name"] = _text("name", name)
        if members is not None:
            payload["members"] = _member_list(members)
        if not payload:
            raise InvalidRequest(
                "nothing to update: give name and/or members",
                field_errors={
                    "name": ["name or members is required"],
                    "members": ["name or members is required"],
                },
                provider=PROVIDER,
            )
        path = self._chats_path(chat_id)
        body = await self.http.request("PATCH", path, json=payload, idempotent=True)
        return None if body is None else self._structure(body, RoostedChat, 200)

    async def list_messages(
        self,
        chat_id: str | int,
        *,
        last_seen_id: str | int | None = None,
        limit: int | None = None,
    ) -> MessagePage:
        """`GET /workers/{id}/chats/{chat_id}/messages`: one page of messages."""
        params: dict[str, Any] = {"limit": _limit(limit)}
        if last_seen_id is not None:
            params["last_seen_id"] = _id("last_seen_id", last_seen_id)
        body = await self.http.request("GET", self._chats_path(chat_id, messages=True), params=params)
        return self._structure(body, MessagePage, 200)

    async def post_message(self, chat_id: str | int, message: str) -> RoostedMessage | None:
        """`POST /workers/{id}/chats/{chat_id}/messages` `{message}`; None when the answer had no body.

        Not safe to repeat: a retry after a lost answer would post the message twice.
        """
        payload = {"message": _text("message", message)}
        path = self._chats_path(chat_id, messages=True)
        body = await self.http.request("POST", path, json=payload, idempotent=False)
        return None if body is None else self._structure(body, RoostedMessage, 201)
