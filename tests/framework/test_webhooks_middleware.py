"""The json_errors middleware: aiohttp's own HTTP errors and unexpected failures answered as JSON bodies."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp.plugin import AiohttpClient

from framework.triggers.webhooks import json_errors

Client = TestClient[web.Request, web.Application]


async def bad_request(request: web.Request) -> web.Response:
    raise web.HTTPBadRequest(text="the query needs ?limit")


async def already_json(request: web.Request) -> web.Response:
    raise web.HTTPConflict(text='{"error": "taken", "detail": "x"}', content_type="application/json")


async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/elsewhere")


async def crash(request: web.Request) -> web.Response:
    raise RuntimeError("secret-laden internals")


async def too_big(request: web.Request) -> web.Response:
    await request.read()
    return web.Response()


@pytest.fixture
async def client(aiohttp_client: AiohttpClient) -> Client:
    app = web.Application(middlewares=[json_errors], client_max_size=8)
    app.router.add_get("/bad", bad_request)
    app.router.add_get("/json", already_json)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/crash", crash)
    app.router.add_post("/read", too_big)
    return await aiohttp_client(app)


async def test_http_errors_get_a_json_body_with_their_text(client: Client) -> None:
    response = await client.get("/bad")
    assert response.status == 400
    assert await response.json() == {"error": "bad_request", "detail": "the query needs ?limit"}


async def test_aiohttp_body_limit_answers_413_json(client: Client) -> None:
    response = await client.post("/read", data=b"x" * 100)
    assert (response.status, (await response.json())["error"]) == (413, "payload_too_large")


async def test_json_errors_and_redirects_pass_through(client: Client) -> None:
    conflict = await client.get("/json")
    assert (conflict.status, (await conflict.json())["error"]) == (409, "taken")
    moved = await client.get("/redirect", allow_redirects=False)
    assert (moved.status, moved.headers["Location"]) == (302, "/elsewhere")


async def test_unexpected_failures_answer_500_without_internals(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.get("/crash")
    body = await response.json()
    assert (response.status, body["error"]) == (500, "internal_error")
    assert "secret-laden" not in body["detail"]
    assert "unhandled error answering GET /crash" in caplog.text
