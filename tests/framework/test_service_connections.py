"""The service's HTTP connections as `chatwright run` serves them: clients that leave, stall or send garbage.

aiohttp's TestServer cancels a handler whose client disconnects, which `chatwright run` (web.run_app) does
not; so these tests serve the app with an AppRunner and a TCPSite of their own and talk raw sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from framework import Plugin
from framework.config import config_from_dict
from framework.runtime import Runtime
from framework.service import create_app
from framework.triggers import webhook_receiver
from tests.conftest import wait_until

OPEN_ROUTE = {"path": "/hooks/open", "event_field": "kind", "insecure": True, "verify": {"scheme": "none"}}


@contextlib.asynccontextmanager
async def serving(service: dict[str, Any] | None = None) -> AsyncIterator[int]:
    """The service app on a free port of 127.0.0.1, run as web.run_app runs it; yields the port."""
    raw = {
        "service": service or {},
        "store": {"url": "sqlite://:memory:"},
        "webhooks": [OPEN_ROUTE],
        "plugins": {"entry_points": False},
    }
    config = config_from_dict(raw, Path.cwd() / "test.toml", "test.toml", {})
    runner = web.AppRunner(
        create_app(Runtime(config, plugins=[Plugin("quiet")], providers={})), access_log=None
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


@pytest.fixture
def reading(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Set once a webhook route has started to read a body."""
    started = asyncio.Event()
    read_body = webhook_receiver._read_body

    async def read_body_noted(request: web.Request, limit: int) -> bytes | None:
        started.set()
        return await read_body(request, limit)

    monkeypatch.setattr(webhook_receiver, "_read_body", read_body_noted)
    return started


def problems(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.WARNING or record.exc_info]


@pytest.mark.parametrize(
    "head",
    [
        b"POST /hooks/open HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n",
        b"POST /hooks/open HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n",
    ],
    ids=["content-length", "chunked"],
)
async def test_a_client_leaving_mid_body_is_logged_in_one_quiet_line(
    caplog: pytest.LogCaptureFixture, reading: asyncio.Event, head: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serving() as port:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + b'{"kind":')
        await writer.drain()
        await asyncio.wait_for(reading.wait(), 10)  # the client leaves while the route reads the body
        writer.close()

        def disconnects() -> list[logging.LogRecord]:
            return [
                r for r in caplog.records if "disconnected before sending the whole body" in r.getMessage()
            ]

        await wait_until(lambda: bool(disconnects() or problems(caplog)))
    assert not problems(caplog)
    (record,) = disconnects()
    assert (record.levelno, record.exc_info) == (logging.INFO, None)
    assert record.getMessage() == "webhook /hooks/open: the client disconnected before sending the whole body"


async def dribble(writer: asyncio.StreamWriter, data: bytes, pause: float = 0.05) -> None:
    """Send `data` a byte at a time, `pause` seconds apart, as a slow (or hostile) client does."""
    with contextlib.suppress(ConnectionError):
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(pause)


async def until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
    """Whatever the service sends until it closes the connection, which it must do within `within` seconds.

    A close while the client is still sending (a dribbled body after its 408, say) reaches the client as a
    reset: what arrived before it counts, as it does for a client that reads while it sends."""
    received = bytearray()
    try:
        async with asyncio.timeout(within):
            while chunk := await reader.read(65536):
                received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the service kept the connection open for more than {within} s")
    return bytes(received)


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connects and sends nothing
        b"POST /hooks/open HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 1000,  # headers that never end
        b"POST /hooks/open HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}"
        + b"POST /hooks/op",  # then stalls
    ],
    ids=["silent", "slow-headers", "slow-second-request"],
)
async def test_a_connection_without_a_complete_request_is_closed_after_idle_timeout(sent: bytes) -> None:
    async with serving({"idle_timeout": 0.5}) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sender = asyncio.create_task(dribble(writer, sent, pause=0.01 if b"Content-Length" in sent else 0.05))
        try:
            received = await until_closed(reader, within=5)
        finally:
            sender.cancel()
            writer.close()
    assert b"HTTP/1.1 400" not in received  # closed, not answered (the second request never began)


async def test_a_body_slower_than_read_timeout_gets_408_and_the_connection_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving({"read_timeout": 0.5}) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /hooks/open HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{")
        sender = asyncio.create_task(dribble(writer, b'"kind": "x", "pad": "' + b"a" * 1000))
        try:
            received = await until_closed(reader, within=5)
        finally:
            sender.cancel()
            writer.close()
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"Content-Type: application/json" in head
    assert body == b'{"error":"request_timeout","detail":"the body did not arrive within 0.5 s"}'
    assert not problems(caplog)


async def test_a_malformed_chunk_after_the_headers_gets_408_instead_of_holding_the_connection(
    reading: asyncio.Event,
) -> None:
    # aiohttp's parser fails on the chunk without telling the route reading the body, which then waited forever
    async with serving({"read_timeout": 0.5}) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b'POST /hooks/open HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n'
        )
        await writer.drain()
        await asyncio.wait_for(reading.wait(), 10)
        writer.write(b"ZZ\r\nnot a chunk\r\n0\r\n\r\n")
        received = await until_closed(reader, within=5)
        writer.close()
    assert received.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


async def test_a_body_that_arrives_in_time_in_pieces_is_accepted() -> None:
    async with serving({"read_timeout": 5}) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = b'{"kind": "piecemeal"}'
        writer.write(
            b"POST /hooks/open HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
            % len(body)
        )
        await dribble(writer, body, pause=0.01)
        received = await until_closed(reader, within=10)
        writer.close()
    assert received.startswith(b"HTTP/1.1 202 ")


async def exchange(port: int, request: bytes) -> tuple[bytes, bytes]:
    """Send one request (with Connection: close) and return the head (status line, headers) and the body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    received = await until_closed(reader, within=10)
    writer.close()
    head, _, body = received.partition(b"\r\n\r\n")
    return head, body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/hooks/open"),
        ("GET", "/healthz"),
        ("GET", "/admin/api/recent"),
        ("PUT", "/hooks/open"),
        ("GET", "/nowhere"),
    ],
)
async def test_an_expectation_other_than_100_continue_gets_a_json_417(method: str, path: str) -> None:
    async with serving() as port:
        head, body = await exchange(
            port,
            f"{method} {path} HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}".encode(),
        )
    assert head.startswith(b"HTTP/1.1 417 Expectation Failed\r\n")
    assert b"\r\nContent-Type: application/json\r\n" in head
    assert json.loads(body) == {
        "error": "expectation_failed",
        "detail": "only Expect: 100-continue is understood; leave Expect out",
    }


async def test_expect_100_continue_is_answered_before_the_body_is_sent() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = b'{"kind": "continued"}'
        writer.write(
            b"POST /hooks/open HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10) == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(body)
        received = await until_closed(reader, within=10)
        writer.close()
    assert received.startswith(b"HTTP/1.1 202 Accepted\r\n")


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /hooks/open HTTP/1.1\r\nHost t\r\n\r\n",
        b"POST /hooks/open HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
        b"POST /hooks/open HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
    ],
    ids=["request-line", "header", "content-length", "content-length-and-chunked"],
)
async def test_requests_aiohttp_cannot_parse_get_its_plain_text_400(request_bytes: bytes) -> None:
    """The known limit (docs/webhooks.md#responses): aiohttp answers these before any application code runs,
    and offers no public way to change the answer (aio-libs/aiohttp#3287). If this test fails, it may have."""
    async with serving() as port:
        head, _ = await exchange(port, request_bytes)
    assert head.startswith(b"HTTP/1.0 400 Bad Request\r\n")
    assert b"\r\nContent-Type: text/plain; charset=utf-8\r\n" in head
