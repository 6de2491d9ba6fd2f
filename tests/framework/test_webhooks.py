"""Webhook routes over HTTP into a SQLite inbox: verification, dedupe, limits, errors, the DevRev preset."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hmac
import json
import logging
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from unittest.mock import ANY

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp.plugin import AiohttpClient

from framework import Plugin, jsoncodec
from framework.errors import ConfigError
from framework.store.sqlite import SQLiteStore
from framework.testing import BotHarness
from framework.triggers.verify_config import BearerVerify, HmacSha256Verify, NoVerify, StandardWebhooksVerify
from framework.triggers.webhook_receiver import HANDLER_ARGS, MAX_JSON_DEPTH, WebhookReceiver, json_errors
from framework.triggers.webhook_routes import WebhookRoute
from tests.framework.store_fixtures import sqlite_inbox  # noqa: F401 - the `store` fixture

Client = TestClient[web.Request, web.Application]
Serve = Callable[..., Awaitable[Client]]

SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SW_HEADERS = {"webhook-id": SW_ID, "webhook-timestamp": str(SW_TIMESTAMP), "webhook-signature": SW_SIGNATURE}
NOW = float(SW_TIMESTAMP)

GH_SECRET = "It's a Secret to Everybody"
GH_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
DEVREV_SECRET = "devrev-webhook-secret"

SW_ROUTE = WebhookRoute(
    path="/hooks/sw", event="test.sent", verify=StandardWebhooksVerify(secrets=(SW_SECRET,))
)
GITHUB_ROUTE = WebhookRoute(
    path="/hooks/github",
    event_field="action",
    id_header="X-GitHub-Delivery",
    ordering_field="repository.id",
    verify=HmacSha256Verify(secrets=(GH_SECRET,), header="X-Hub-Signature-256", prefix="sha256="),
)
DEVREV_ROUTE = WebhookRoute(
    path="/hooks/devrev", preset="devrev", verify=HmacSha256Verify(secrets=(DEVREV_SECRET,))
)
BEARER_ROUTE = WebhookRoute(
    path="/hooks/bearer", event="ping", id_field="id", verify=BearerVerify(tokens=("old-token", "new-token"))
)
OPEN_ROUTE = WebhookRoute(path="/hooks/open", event_field="kind", verify=NoVerify(), insecure=True)
SMALL_ROUTE = WebhookRoute(
    path="/hooks/small", event="x", max_body_bytes=64, verify=NoVerify(), insecure=True
)
ROUTES = (SW_ROUTE, GITHUB_ROUTE, DEVREV_ROUTE, BEARER_ROUTE, OPEN_ROUTE, SMALL_ROUTE)


def sw_sign(msg_id: bytes, timestamp: int, body: bytes, secret: str = SW_SECRET) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return (
        "v1,"
        + base64.b64encode(
            hmac.digest(key, msg_id + b"." + str(timestamp).encode() + b"." + body, "sha256")
        ).decode()
    )


def gh_headers(body: bytes, delivery: str = "d-1", secret: str = GH_SECRET) -> dict[str, str]:
    return {
        "X-Hub-Signature-256": "sha256=" + hmac.digest(secret.encode(), body, "sha256").hex(),
        "X-GitHub-Delivery": delivery,
    }


def devrev_body(**fields: Any) -> bytes:
    stamp = datetime.fromtimestamp(NOW, UTC).isoformat().replace("+00:00", "Z")
    envelope = {"id": "evt-1", "webhook_id": "wh-1", "timestamp": stamp, "type": "timeline_entry_created"}
    return json_bytes(envelope | fields)


def json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


def devrev_headers(body: bytes) -> dict[str, str]:
    return {"X-DevRev-Signature": hmac.digest(DEVREV_SECRET.encode(), body, "sha256").hex()}


@pytest.fixture
def serve(aiohttp_client: AiohttpClient, store: SQLiteStore) -> Serve:
    async def serve(*routes: WebhookRoute, clock: Callable[[], float] = lambda: NOW) -> Client:
        app = web.Application(middlewares=[json_errors], handler_args=HANDLER_ARGS)
        WebhookReceiver(routes or ROUTES, store.append, clock=clock).add_to(app)
        return await aiohttp_client(app)

    return serve


@pytest.fixture
async def client(serve: Serve) -> Client:
    return await serve()


async def answer(
    client: Client, path: str, body: bytes | Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    response = await client.post(path, data=body, headers=headers or {})
    assert response.content_type == "application/json"
    return response.status, await response.json()


# -- standard-webhooks -------------------------------------------------------------------------------------


async def test_standard_webhooks_vector_is_accepted_once_durably(client: Client, store: SQLiteStore) -> None:
    status, body = await answer(client, "/hooks/sw", SW_BODY, SW_HEADERS)
    assert (status, body) == (202, {"event_id": f"webhook:/hooks/sw:{SW_ID}"})
    (entry,) = await store.claim("test", 10, lease=30)
    event = entry.event
    assert (event.type, event.data, event.source) == ("test.sent", {"test": 2432232314}, "webhook:/hooks/sw")
    assert event.occurred_at == datetime.fromtimestamp(SW_TIMESTAMP, UTC)


async def test_a_replayed_delivery_is_a_duplicate_and_not_enqueued_again(
    client: Client, store: SQLiteStore
) -> None:
    await answer(client, "/hooks/sw", SW_BODY, SW_HEADERS)
    status, body = await answer(client, "/hooks/sw", SW_BODY, SW_HEADERS)
    assert (status, body) == (200, {"event_id": f"webhook:/hooks/sw:{SW_ID}", "duplicate": True})
    assert await store.pending() == 1


@pytest.mark.parametrize(
    ("body", "headers", "code"),
    [
        (b'{"test": 2432232315}', SW_HEADERS, "bad_signature"),
        (SW_BODY, SW_HEADERS | {"webhook-signature": "v1,bm9wZQ=="}, "bad_signature"),
        (SW_BODY, SW_HEADERS | {"webhook-signature": "v1,%%%"}, "bad_signature"),
        (SW_BODY, SW_HEADERS | {"webhook-timestamp": "1614265330.5"}, "bad_timestamp"),
        (SW_BODY, SW_HEADERS | {"webhook-timestamp": "¹⁶¹⁴"}, "bad_timestamp"),
        (SW_BODY, SW_HEADERS | {"webhook-id": "msg_é"}, "bad_signature"),
        (SW_BODY, {"webhook-id": SW_ID}, "missing_signature"),
    ],
)
async def test_tampered_or_malformed_deliveries_get_401(
    client: Client, store: SQLiteStore, body: bytes, headers: dict[str, str], code: str
) -> None:
    status, answered = await answer(client, "/hooks/sw", body, headers)
    assert status == 401 and answered["error"] == code and answered["detail"]
    assert await store.pending() == 0


@pytest.mark.parametrize(("offset", "code"), [(301, "stale_timestamp"), (-301, "future_timestamp")])
async def test_stale_and_future_timestamps_get_401(serve: Serve, offset: int, code: str) -> None:
    client = await serve(SW_ROUTE, clock=lambda: NOW + offset)
    assert await answer(client, "/hooks/sw", SW_BODY, SW_HEADERS) == (401, {"error": code, "detail": ANY})


async def test_rotation_accepts_the_old_and_the_new_secret(serve: Serve, store: SQLiteStore) -> None:
    new = "whsec_" + base64.b64encode(b"the new secret, 24 bytes").decode()
    route = WebhookRoute(path="/hooks/sw", event="t", verify=StandardWebhooksVerify(secrets=(new, SW_SECRET)))
    client = await serve(route)
    assert (await answer(client, "/hooks/sw", SW_BODY, SW_HEADERS))[0] == 202
    signed = sw_sign(b"msg_2", SW_TIMESTAMP, SW_BODY, new)
    headers = {"webhook-id": "msg_2", "webhook-timestamp": str(SW_TIMESTAMP), "webhook-signature": signed}
    assert (await answer(client, "/hooks/sw", SW_BODY, headers))[0] == 202
    assert await store.pending() == 2


async def test_fifty_concurrent_copies_of_one_delivery_enqueue_one_event(
    client: Client, store: SQLiteStore
) -> None:
    statuses = await asyncio.gather(*(answer(client, "/hooks/sw", SW_BODY, SW_HEADERS) for _ in range(50)))
    assert sorted(status for status, _ in statuses) == [200] * 49 + [202]
    assert {body["event_id"] for _, body in statuses} == {f"webhook:/hooks/sw:{SW_ID}"}
    assert await store.pending() == 1


# -- hmac-sha256 (GitHub) ----------------------------------------------------------------------------------


async def test_github_documented_example_passes_verification(client: Client) -> None:
    headers = {"X-Hub-Signature-256": GH_SIGNATURE, "X-GitHub-Delivery": "d-0"}
    # "Hello, World!" is signed correctly but is not JSON: verification passed, parsing refused it.
    assert (await answer(client, "/hooks/github", b"Hello, World!", headers))[1]["error"] == "invalid_json"
    tampered = {"X-Hub-Signature-256": GH_SIGNATURE[:-1] + "0", "X-GitHub-Delivery": "d-0"}
    assert (await answer(client, "/hooks/github", b"Hello, World!", tampered))[0] == 401


async def test_github_delivery_uses_its_delivery_header_and_ordering_field(
    client: Client, store: SQLiteStore
) -> None:
    body = b'{"action": "opened", "repository": {"id": 42}}'
    status, answered = await answer(client, "/hooks/github", body, gh_headers(body, "72d3162e"))
    assert (status, answered) == (202, {"event_id": "webhook:/hooks/github:72d3162e"})
    assert (await answer(client, "/hooks/github", body, gh_headers(body, "72d3162e")))[0] == 200
    (entry,) = await store.claim("test", 10, lease=30)
    assert (entry.event.type, entry.ordering_key) == ("opened", "42")


async def test_hmac_rotation_accepts_both_secrets(serve: Serve, store: SQLiteStore) -> None:
    verify = HmacSha256Verify(secrets=("old", "new"), header="X-Signature", encoding="base64")
    client = await serve(WebhookRoute(path="/h", event="e", id_field="id", verify=verify))
    for number, secret in enumerate((b"old", b"new", b"gone")):
        body = json_bytes({"id": number})
        signature = base64.b64encode(hmac.digest(secret, body, "sha256")).decode()
        status, _ = await answer(client, "/h", body, {"X-Signature": signature})
        assert status == (401 if secret == b"gone" else 202)
    assert await store.pending() == 2


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "invalid_json"),
        (b"", "invalid_json"),
        (b"[" * 100_000, "invalid_json"),
        (b'["opened"]', "not_an_object"),
        (b'"opened"', "not_an_object"),
        (b'{"repository": {"id": 1}}', "missing_event_type"),
        (b'{"action": 7}', "missing_event_type"),
        (b'{"action": ""}', "missing_event_type"),
    ],
)
async def test_bodies_that_are_not_usable_get_400(
    client: Client, store: SQLiteStore, body: bytes, code: str
) -> None:
    status, answered = await answer(client, "/hooks/github", body, gh_headers(body))
    assert (status, answered["error"]) == (400, code)
    assert await store.pending() == 0


async def test_a_missing_delivery_header_gets_400(client: Client) -> None:
    body = b'{"action": "opened"}'
    headers = gh_headers(body)
    del headers["X-GitHub-Delivery"]
    assert (await answer(client, "/hooks/github", body, headers))[1]["error"] == "missing_delivery_id"


async def test_long_delivery_ids_are_hashed_into_a_bounded_event_id(client: Client) -> None:
    body = b'{"action": "opened"}'
    _, answered = await answer(client, "/hooks/github", body, gh_headers(body, "d" * 500))
    assert (
        answered["event_id"].startswith("webhook:/hooks/github:sha256:") and len(answered["event_id"]) < 120
    )
    _, again = await answer(client, "/hooks/github", body, gh_headers(body, "d" * 500))
    assert again == {"event_id": answered["event_id"], "duplicate": True}


# -- bearer and none ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        ("Bearer old-token", 202),
        ("Bearer new-token", 202),
        ("Bearer other", 401),
        ("Basic b2xkOnRva2Vu", 401),
    ],
)
async def test_bearer_tokens(client: Client, authorization: str, status: int) -> None:
    assert (await answer(client, "/hooks/bearer", b'{"id": "1"}', {"Authorization": authorization}))[
        0
    ] == status


async def test_bearer_without_a_header_gets_401(client: Client) -> None:
    assert await answer(client, "/hooks/bearer", b'{"id": "1"}') == (
        401,
        {"error": "missing_token", "detail": ANY},
    )


async def test_a_route_without_delivery_ids_gives_every_delivery_a_fresh_id(
    client: Client, store: SQLiteStore
) -> None:
    first = await answer(client, "/hooks/open", b'{"kind": "k"}')
    second = await answer(client, "/hooks/open", b'{"kind": "k"}')
    assert first[0] == second[0] == 202 and first[1] != second[1]
    assert await store.pending() == 2


def test_scheme_none_without_insecure_is_refused(store: SQLiteStore) -> None:
    with pytest.raises(
        ConfigError, match=r'webhooks\[0\]\.verify\.scheme: "none" accepts requests from anyone'
    ):
        WebhookReceiver([WebhookRoute(path="/open", event="e", verify=NoVerify())], store.append)


def test_two_routes_on_one_path_are_refused(store: SQLiteStore) -> None:
    with pytest.raises(
        ConfigError, match=r"webhooks\[1\]\.path: '/hooks/open' is already used by webhooks\[0\]"
    ):
        WebhookReceiver([OPEN_ROUTE, OPEN_ROUTE], store.append)


# -- sizes, methods, paths ---------------------------------------------------------------------------------


async def test_a_body_over_the_limit_by_content_length_gets_413(client: Client) -> None:
    status, answered = await answer(client, "/hooks/small", b"x" * 65)
    assert (status, answered["error"]) == (413, "payload_too_large")
    assert (await answer(client, "/hooks/small", b"{}"))[0] == 202


async def test_a_chunked_body_over_the_limit_gets_413(client: Client) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * 40

    response = await client.post("/hooks/small", data=chunks())  # no Content-Length: chunked
    assert (response.status, (await response.json())["error"]) == (413, "payload_too_large")


async def test_a_small_chunked_body_is_read_whole(client: Client, store: SQLiteStore) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"a":'
        yield b" 1}"

    assert (await client.post("/hooks/small", data=chunks())).status == 202
    (entry,) = await store.claim("test", 1, lease=30)
    assert entry.event.data == {"a": 1}


async def test_unknown_path_and_wrong_method_answer_json(client: Client) -> None:
    missing = await client.post("/hooks/nope", data=b"{}")
    assert (missing.status, (await missing.json())["error"]) == (404, "not_found")
    wrong = await client.get("/hooks/sw")
    assert (wrong.status, (await wrong.json())["error"]) == (405, "method_not_allowed")
    assert wrong.headers["Allow"] == "POST"


async def test_raw_non_utf8_header_bytes_get_4xx_not_500(client: Client, store: SQLiteStore) -> None:
    async def raw(head: bytes, body: bytes) -> bytes:
        assert client.server.host is not None and client.server.port is not None
        reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
        writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        reply = await reader.read()
        writer.close()
        return reply.split(b"\r\n", 1)[0]

    garbage = b"POST /hooks/github HTTP/1.1\r\nHost: t\r\nX-Hub-Signature-256: sha256=\xff\xfe\r\n"
    assert await raw(garbage, b"{}") == b"HTTP/1.1 401 Unauthorized"
    body = b'{"test": 1}'
    signed = sw_sign(b"msg_\xff", SW_TIMESTAMP, body).encode()
    head = b"POST /hooks/sw HTTP/1.1\r\nHost: t\r\nwebhook-id: msg_\xff\r\n"
    head += b"webhook-timestamp: %d\r\nwebhook-signature: %s\r\n"
    assert await raw(head % (SW_TIMESTAMP, signed), body) == b"HTTP/1.1 202 Accepted"
    (entry,) = await store.claim("test", 1, lease=30)
    assert entry.event.id.startswith("webhook:/hooks/sw:sha256:")


async def test_a_store_failure_answers_503(
    serve: Serve, store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(store, "append", broken)
    client = await serve()
    assert (await answer(client, "/hooks/sw", SW_BODY, SW_HEADERS))[0:1] == (503,)


# -- hostile bodies and connections -----------------------------------------------------------------------


def nested(depth: int, opener: bytes = b'{"a":', closer: bytes = b"}") -> bytes:
    """A JSON object whose objects (or, inside the first, arrays) nest `depth` levels deep."""
    if opener == b"[":
        return b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    return opener * depth + b"1" + closer * depth


def sw_signed(body: bytes, msg_id: str = "msg_hostile") -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(SW_TIMESTAMP),
        "webhook-signature": sw_sign(msg_id.encode(), SW_TIMESTAMP, body),
    }


@pytest.mark.parametrize("depth", [129, 253, 254, 300, 1023, 1024, 1025, 5000])
@pytest.mark.parametrize("opener", [b'{"a":', b"["])
async def test_a_signed_body_nested_too_deep_gets_400_and_logs_no_error(
    client: Client, store: SQLiteStore, caplog: pytest.LogCaptureFixture, depth: int, opener: bytes
) -> None:
    body = nested(depth, opener)
    status, answered = await answer(client, "/hooks/sw", body, sw_signed(body))
    assert (status, answered) == (
        400,
        {
            "error": "invalid_json",
            "detail": "the body nests objects and arrays more than 128 levels deep; flatten it",
        },
    )
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert await store.pending() == 0


async def test_a_body_nested_as_deep_as_allowed_is_stored_and_read_back(
    client: Client, store: SQLiteStore
) -> None:
    body = nested(MAX_JSON_DEPTH)
    status, _ = await answer(client, "/hooks/sw", body, sw_signed(body))
    assert status == 202
    (entry,) = await store.claim("test", 1, lease=30)
    assert entry.event.data == json.loads(body)


async def test_deep_bodies_are_refused_by_the_standard_json_decoder_too(
    client: Client, store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsoncodec, "loads", json.loads)  # the decoder without the "fast" extra
    for depth in (129, 300, 100_000):
        body = nested(depth)
        status, answered = await answer(client, "/hooks/sw", body, sw_signed(body, f"msg_{depth}"))
        assert (status, answered["error"]) == (400, "invalid_json")
        assert "more than 128 levels deep" in answered["detail"]
    assert await store.pending() == 0


@pytest.mark.parametrize(
    ("encoding", "named"),
    [
        ("gzip", "gzip"),
        ("deflate", "deflate"),
        ("br", "br"),
        ("zstd", "zstd"),
        ("GZip", "gzip"),
        ("x-gzip", "x-gzip"),
        ("gzip, identity", None),
        ("identity, gzip", None),
        ("x-<script>", None),
    ],
)
async def test_an_encoded_body_gets_415_naming_the_encoding_without_logging_an_error(
    client: Client,
    store: SQLiteStore,
    caplog: pytest.LogCaptureFixture,
    encoding: str,
    named: str | None,
) -> None:
    body = b'{"not": "compressed"}'  # what the header says is not what the body is: still 415, never a 500
    response = await client.post(
        "/hooks/sw", data=body, headers={**sw_signed(body), "Content-Encoding": encoding}
    )
    assert (response.status, response.content_type) == (415, "application/json")
    answered = await response.json()
    assert answered["error"] == "unsupported_encoding"
    assert answered["detail"].startswith(
        f"Content-Encoding {named} is not accepted" if named else "a Content-"
    )
    assert "<script>" not in answered["detail"]
    assert "send the body uncompressed" in answered["detail"]
    assert response.headers["Accept-Encoding"] == "identity"
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert await store.pending() == 0


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_really_compressed_body_is_refused_too(
    client: Client, store: SQLiteStore, encoding: str
) -> None:
    plain = b'{"compressed": true}'
    body = gzip.compress(plain) if encoding == "gzip" else zlib.compress(plain)
    for signed in (body, plain):  # signed over the bytes as sent, or over what they decompress to
        response = await client.post(
            "/hooks/sw", data=body, headers={**sw_signed(signed), "Content-Encoding": encoding}
        )
        assert response.status == 415
    assert await store.pending() == 0


async def test_identity_encoding_is_accepted(client: Client) -> None:
    body = b'{"plain": true}'
    for encoding in ("identity", "IDENTITY", ""):
        response = await client.post(
            "/hooks/sw",
            data=body,
            headers={**sw_signed(body, f"msg_{encoding}"), "Content-Encoding": encoding},
        )
        assert response.status == 202, encoding


async def test_the_service_refuses_encoded_bodies_with_a_json_415() -> None:
    route = {"path": "/hooks/in", "event": "x", "insecure": True, "verify": {"scheme": "none"}}
    bot = BotHarness.from_plugins(Plugin("p"), config={"webhooks": [route]})
    async with bot:
        for encoding in ("br", "zstd", "deflate", "gzip"):
            status, answered = await bot.post(
                "/hooks/in", raw=b'{"a": 1}', headers={"Content-Encoding": encoding}
            )
            assert (status, answered["error"]) == (415, "unsupported_encoding"), encoding


# -- the devrev preset -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "handshake",
    [{"type": "verify", "verify": {"challenge": "c-123"}}, {"challenge": "c-123"}],
)
async def test_devrev_handshake_is_answered_and_nothing_enqueued(
    client: Client, store: SQLiteStore, handshake: dict[str, Any]
) -> None:
    body = devrev_body(**handshake)
    assert await answer(client, "/hooks/devrev", body, devrev_headers(body)) == (200, {"challenge": "c-123"})
    assert (await answer(client, "/hooks/devrev", body, {"X-DevRev-Signature": "00" * 32}))[0] == 401
    assert await store.pending() == 0


async def test_devrev_event_takes_type_and_id_from_the_body(client: Client, store: SQLiteStore) -> None:
    body = devrev_body(timeline_entry_created={"entry": {"id": "te-1"}})
    status, answered = await answer(client, "/hooks/devrev", body, devrev_headers(body))
    assert (status, answered) == (202, {"event_id": "webhook:/hooks/devrev:evt-1"})
    assert (await answer(client, "/hooks/devrev", body, devrev_headers(body)))[0] == 200
    (entry,) = await store.claim("test", 10, lease=30)
    assert entry.event.type == "timeline_entry_created"
    assert entry.event.occurred_at == datetime.fromtimestamp(NOW, UTC)


@pytest.mark.parametrize(
    ("timestamp", "code"),
    [
        ("2021-02-25T14:00:00Z", "stale_timestamp"),
        ("2021-02-26T15:00:00+00:00", "future_timestamp"),
        ("yesterday", "bad_timestamp"),
        (1614265330, "bad_timestamp"),
        (None, "bad_timestamp"),
    ],
)
async def test_devrev_stale_or_missing_timestamps_get_401(client: Client, timestamp: Any, code: str) -> None:
    body = devrev_body(timestamp=timestamp)
    assert (await answer(client, "/hooks/devrev", body, devrev_headers(body)))[1]["error"] == code


async def test_devrev_verify_without_challenge_gets_400(client: Client) -> None:
    body = devrev_body(type="verify", verify={})
    assert (await answer(client, "/hooks/devrev", body, devrev_headers(body)))[1][
        "error"
    ] == "missing_challenge"


async def test_ordering_paths_are_tried_in_turn(serve: Serve, store: SQLiteStore) -> None:
    route = WebhookRoute(
        path="/h",
        event_field="type",
        id_field="id",
        ordering_field=["work_updated.work.id", "timeline_entry_created.entry.object"],
        verify=BearerVerify(tokens=("t",)),
    )
    client = await serve(route)
    bodies = [
        {"id": "1", "type": "work_updated", "work_updated": {"work": {"id": "ISS-7"}}},
        {
            "id": "2",
            "type": "timeline_entry_created",
            "timeline_entry_created": {"entry": {"object": "ISS-7"}},
        },
        {"id": "3", "type": "webhook_ping"},
    ]
    for body in bodies:
        status, _ = await answer(client, "/h", json_bytes(body), {"Authorization": "Bearer t"})
        assert status == 202
    (first, unordered) = await store.claim("test", 10, lease=30)
    assert [(first.event.type, first.ordering_key), (unordered.event.type, unordered.ordering_key)] == [
        ("work_updated", "ISS-7"),
        ("webhook_ping", None),
    ]  # the timeline entry about ISS-7 waits for the update of ISS-7


async def test_an_overloaded_store_pushes_back_with_503_and_retry_after(
    serve: Serve, store: SQLiteStore
) -> None:
    client = await serve(OPEN_ROUTE)
    store.max_queued = 0  # every write queue is "full"
    response = await client.post("/hooks/open", json={"kind": "a", "id": 1})
    assert response.status == 503 and response.headers["Retry-After"] == "1"
    assert (await response.json())["error"] == "overloaded"
    assert await store.pending() == 0
    store.max_queued = 1_000
    response = await client.post("/hooks/open", json={"kind": "a", "id": 2})
    assert response.status == 202 and await store.pending() == 1


async def test_the_write_queue_is_counted_until_each_write_commits(store: SQLiteStore) -> None:
    from framework.events import new_event

    appends = [asyncio.create_task(store.append(new_event("a"))) for _ in range(50)]
    await asyncio.sleep(0)  # each append submits its write
    assert store._writer.queued == 50  # the count the overload check reads (no public view)
    await asyncio.gather(*appends)
    assert store._writer.queued == 0
