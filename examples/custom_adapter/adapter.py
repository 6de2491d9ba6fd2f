"""The Pigeon adapter: its config, a provider implementing the unified chat API, and the AdapterSpec that
`provider = "examples.custom_adapter.adapter:ADAPTER"` in bot.toml names.

Pigeon (imaginary) has rooms and messages behind `Authorization: Bearer <token>`:
`GET|POST /v1/rooms`, `GET /v1/rooms/{id}`, `GET|POST /v1/rooms/{id}/messages`. Rooms cannot be renamed,
their members cannot be changed and they cannot be deleted, so those operations raise Unsupported.
"""

from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs
from aiohttp import web

from framework import Capability, Chat, InvalidRequest, Message, ProviderError, Unsupported
from framework.adapter_registry import AdapterConfig, AdapterSpec, EmulatorOptions
from framework.chats import member_ids
from framework.http import ErrorDetails, HttpClient, default_error_parser

PROVIDER = "pigeon"


@attrs.frozen(kw_only=True)
class PigeonConfig(AdapterConfig):
    """`[adapters.NAME]`: the common keys (provider, base_url, timeout, retries, rate_limit) and a token."""

    token: str = attrs.field(repr=False)  # repr=False keeps the secret out of logs


def parse_error(status: int, body: Any) -> ErrorDetails:
    """Pigeon answers errors as `{"error": {"code": ..., "message": ...}}`."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        return ErrorDetails(message=str(error.get("message") or f"HTTP {status}"), code=error.get("code"))
    return default_error_parser(status, body)


def _object(body: Any, key: str | None = None) -> Any:
    """The JSON object of an answer (or one of its keys); anything else is the provider's fault."""
    if not isinstance(body, Mapping) or (key is not None and key not in body):
        raise ProviderError(f"unexpected answer: {body!r:.200}", provider=PROVIDER)
    return body if key is None else body[key]


def to_chat(room: Mapping[str, Any]) -> Chat:
    # Pigeon's ids are integers; the unified API always uses strings.
    return Chat(
        provider=PROVIDER, id=str(room["id"]), name=room["title"], members=tuple(room["members"]), raw=room
    )


def to_message(message: Mapping[str, Any]) -> Message:
    return Message(
        provider=PROVIDER,
        chat_id=str(message["room_id"]),
        id=str(message["id"]),
        text=message["body"],
        sent_at=datetime.fromisoformat(message["sent_at"]),
        raw=message,
    )


class PigeonProvider:
    """Pigeon through the unified chat API; `http` reaches any other endpoint."""

    capabilities = frozenset(
        {
            Capability.CREATE_CHAT,
            Capability.POST_MESSAGE,
            Capability.GET_CHAT,
            Capability.LIST_CHATS,
            Capability.LIST_MESSAGES,
        }
    )

    def __init__(self, name: str, http: HttpClient) -> None:
        self.name = name
        self.http = http

    async def create_chat(self, name: str | None, members: Iterable[str | int], **options: Any) -> Chat:
        if options:
            raise InvalidRequest(f"pigeon rooms take no options: {', '.join(options)}", provider=PROVIDER)
        payload = {"title": name or "", "members": list(member_ids(members))}
        # idempotent=False: a POST that may have landed is not retried, or we could get two rooms.
        body = await self.http.request("POST", "/v1/rooms", json=payload, idempotent=False)
        return to_chat(_object(body))

    async def rename_chat(self, chat_id: str | int, name: str) -> Chat:
        raise Unsupported(PROVIDER, "rename_chat", "Pigeon rooms keep their title")

    async def set_members(self, chat_id: str | int, members: Iterable[str | int]) -> Chat:
        raise Unsupported(PROVIDER, "set_members", "Pigeon rooms keep their members")

    async def post_message(self, chat_id: str | int, text: str) -> Message:
        body = await self.http.request(
            "POST", f"/v1/rooms/{chat_id}/messages", json={"body": text}, idempotent=False
        )
        return to_message(_object(body))

    async def get_chat(self, chat_id: str | int) -> Chat:
        return to_chat(_object(await self.http.request("GET", f"/v1/rooms/{chat_id}")))

    async def list_chats(self) -> AsyncIterator[Chat]:
        for room in _object(await self.http.request("GET", "/v1/rooms"), "rooms"):
            yield to_chat(room)

    async def list_messages(self, chat_id: str | int) -> AsyncIterator[Message]:
        body = await self.http.request("GET", f"/v1/rooms/{chat_id}/messages")
        for message in _object(body, "messages"):
            yield to_message(message)

    async def delete_chat(self, chat_id: str | int) -> None:
        raise Unsupported(PROVIDER, "delete_chat", "Pigeon rooms cannot be deleted")

    async def close(self) -> None:
        await self.http.close()


def build(name: str, config: PigeonConfig) -> PigeonProvider:
    """Called once per `[adapters.NAME]` table that names this adapter."""
    http = HttpClient(
        provider=PROVIDER,
        base_url=config.base_url,
        settings=config.http_settings(),  # timeout, retries and rate_limit from the config table
        headers={"Authorization": f"Bearer {config.token}"},
        error_parser=parse_error,
    )
    return PigeonProvider(name, http)


def emulator(options: EmulatorOptions) -> web.Application:
    """Pigeon's emulator, imported when it is served: using the adapter does not load a test server."""
    from .emulator import create_app

    return create_app(options)


ADAPTER = AdapterSpec(
    provider=PROVIDER,
    config_type=PigeonConfig,
    build=build,
    emulator=emulator,
    emulator_settings={"token": "test-token"},  # the emulator's TEST_TOKEN, set by the testing kit
)
