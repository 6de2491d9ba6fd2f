"""Typed payloads: a delivery that does not fit its handlers' payload types is answered 422 and never stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp.plugin import AiohttpClient

from framework import Plugin
from framework.context import Context
from framework.errors import InvalidEvent
from framework.events import Event, new_event
from framework.payloads import InvalidPayload, payload_problems
from framework.plugins import Handler
from framework.store.sqlite import SQLiteStore
from framework.testing import BotHarness
from framework.triggers.verify_config import NoVerify
from framework.triggers.webhook_receiver import HANDLER_ARGS, WebhookReceiver, _Endpoint
from framework.triggers.webhook_routes import WebhookRoute
from tests.framework.store_fixtures import sqlite_inbox  # noqa: F401 - the `store` fixture

Client = TestClient[web.Request, web.Application]


@attrs.frozen
class Worker:
    id: str
    name: str = ""


@attrs.frozen
class Shift:
    id: str
    starts_at: datetime
    seats: int
    workers: list[Worker] = attrs.Factory(list)


@attrs.frozen
class ShiftPublished:
    shift: Shift


@attrs.frozen
class HasTitle:
    title: str


plugin = Plugin("payloads")
seen: list[Any] = []


@plugin.on("shift.published", payload=ShiftPublished)
async def published(event: Event, ctx: Context) -> None:
    seen.append(event.payload(ShiftPublished))


@plugin.on("shift.*", payload=HasTitle)
async def titled(event: Event, ctx: Context) -> None:
    seen.append(event.payload(HasTitle))


@plugin.on("other")
async def untyped(event: Event, ctx: Context) -> None:
    seen.append(event.data)


FIXED = WebhookRoute(path="/fixed", event="shift.published", verify=NoVerify(), insecure=True)
BY_FIELD = WebhookRoute(path="/by-field", event_field="type", verify=NoVerify(), insecure=True)
UNTYPED = WebhookRoute(path="/untyped", event="other", verify=NoVerify(), insecure=True)
GOOD = {
    "title": "Morning",
    "shift": {"id": "s1", "starts_at": "2025-06-02T08:00:00+02:00", "seats": 3, "workers": [{"id": "w1"}]},
}


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, store: SQLiteStore) -> Client:
    app = web.Application(handler_args=HANDLER_ARGS)
    WebhookReceiver([FIXED, BY_FIELD, UNTYPED], store.append, handlers=plugin.handlers).add_to(app)
    return await aiohttp_client(app)


async def post(client: Client, path: str, body: Any) -> tuple[int, Any]:
    response = await client.post(path, data=json.dumps(body).encode())
    return response.status, await response.json()


async def test_a_fitting_delivery_is_accepted(client: Client, store: SQLiteStore) -> None:
    assert (await post(client, "/fixed", GOOD))[0] == 202
    assert (await post(client, "/by-field", {**GOOD, "type": "shift.published"}))[0] == 202
    assert await store.pending() == 2


async def test_a_delivery_that_does_not_fit_is_422_with_field_paths_and_not_stored(
    client: Client, store: SQLiteStore
) -> None:
    body = {"shift": {"starts_at": "yesterday", "seats": "3", "workers": [{"id": 7}, "x"]}}
    status, answer = await post(client, "/fixed", body)
    assert status == 422
    assert answer["error"] == "invalid_payload"
    assert answer["fields"] == {
        "shift.id": ["required field missing"],
        "shift.starts_at": ["'yesterday' is not ISO 8601; expected e.g. 2025-06-02T08:00:00+02:00"],
        "shift.seats": ["expected an integer, got a string"],
        "shift.workers[0].id": ["expected a string, got the number 7"],
        "shift.workers[1]": ["expected an object, got a string"],
        # the glob handler `shift.*` declares HasTitle: every declared type must accept the body
        "title": ["required field missing"],
    }
    assert await store.pending() == 0


async def test_a_route_with_event_field_checks_the_type_found_in_the_body(
    client: Client, store: SQLiteStore
) -> None:
    status, answer = await post(client, "/by-field", {"type": "shift.renamed"})
    assert (status, answer["fields"]) == (422, {"title": ["required field missing"]})
    status, answer = await post(client, "/by-field", {"type": "shift.published", "title": "t", "shift": 3})
    assert (status, answer["fields"]) == (422, {"shift": ["expected an object, got the number 3"]})
    # no handler of this type declares a payload: anything goes, as before
    assert (await post(client, "/by-field", {"type": "nobody.cares"}))[0] == 202
    assert (await post(client, "/untyped", {"whatever": [1]}))[0] == 202
    assert await store.pending() == 2


def test_types_are_resolved_per_route_at_startup(store: SQLiteStore) -> None:
    receiver = WebhookReceiver([FIXED, BY_FIELD, UNTYPED], store.append, handlers=plugin.handlers)
    fixed, by_field, untyped = receiver._endpoints
    assert fixed.payload_types == (ShiftPublished, HasTitle)
    assert by_field.typed is not None and by_field.payload_types == ()
    # the hot path of a route no typed handler applies to is unchanged: one attribute read, None
    assert isinstance(untyped, _Endpoint) and untyped.typed is None
    plain = WebhookReceiver([FIXED, BY_FIELD], store.append)._endpoints
    assert all(endpoint.typed is None for endpoint in plain)


async def test_handlers_get_the_typed_value_and_data_stays_raw() -> None:
    seen.clear()
    async with BotHarness.from_plugins(plugin) as bot:
        await bot.emit("shift.published", GOOD)
        await bot.settle()
    shift = next(value for value in seen if isinstance(value, ShiftPublished)).shift
    assert shift.starts_at == datetime(2025, 6, 2, 6, tzinfo=UTC)
    assert shift.workers == [Worker(id="w1")]


def test_event_payload_raises_invalid_event_naming_the_fields() -> None:
    event = new_event("shift.published", {"shift": {"id": 1}})
    with pytest.raises(InvalidPayload) as raised:
        event.payload(ShiftPublished)
    assert isinstance(raised.value, InvalidEvent)  # dead-lettered at once, not retried
    assert raised.value.fields["shift.id"] == ["expected a string, got the number 1"]
    assert "shift.seats: required field missing" in str(raised.value)


def test_strict_scalars() -> None:
    @attrs.frozen
    class Scalars:
        flag: bool
        ratio: float

    assert payload_problems({"flag": True, "ratio": 1}, [Scalars]) == {}
    assert payload_problems({"flag": 1, "ratio": True}, [Scalars]) == {
        "flag": ["expected true or false, got the number 1"],
        "ratio": ["expected a number, got a boolean"],
    }
    assert payload_problems([], [Scalars]) == {"$": ["expected an object, got an array"]}


def test_payload_must_be_an_attrs_class() -> None:
    other = Plugin("other")
    with pytest.raises(TypeError, match="payload= must be an attrs class"):
        other.on("x", payload=dict)(published)

    @attrs.frozen
    class Unstructurable:
        id: str | int

    with pytest.raises(TypeError, match=r"payload .*Unstructurable: Unsupported type: str \| int"):
        other.on("z", payload=Unstructurable)(published)
    handler = other.add_handler("y", published, payload=HasTitle)
    assert isinstance(handler, Handler) and handler.payload is HasTitle
