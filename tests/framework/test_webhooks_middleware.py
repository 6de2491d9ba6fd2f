"""JSON error answers, as the json_errors middleware and as per-route wrappers with JSON fallbacks (what the
service uses): aiohttp's own HTTP errors and unexpected failures answered as JSON bodies."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp.plugin import AiohttpClient

from framework.json_answers import add_json_fallbacks, json_errors, json_errors_route

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


@pytest.fixture(params=["middleware", "per-route"])
async def client(request: pytest.FixtureRequest, aiohttp_client: AiohttpClient) -> Client:
    middleware = request.param == "middleware"
    app = web.Application(middlewares=[json_errors] if middleware else [], client_max_size=8)
    wrap = (lambda handler: handler) if middleware else json_errors_route
    app.router.add_get("/bad", wrap(bad_request))
    app.router.add_get("/json", wrap(already_json))
    app.router.add_get("/redirect", wrap(redirect))
    app.router.add_get("/crash", wrap(crash))
    app.router.add_post("/read", wrap(too_big))
    if not middleware:
        add_json_fallbacks(app)
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


async def test_unknown_paths_and_methods_answer_json_404_and_405(client: Client) -> None:
    missing = await client.post("/nowhere/at/all", data=b"{}")
    assert (missing.status, await missing.json()) == (
        404,
        {"error": "not_found", "detail": "nothing is served at this path"},
    )
    wrong = await client.delete("/read")
    assert (wrong.status, (await wrong.json())["error"]) == (405, "method_not_allowed")
    assert wrong.headers["Allow"] == "POST"
    head = await client.head("/bad")
    assert head.status == 400  # GET routes still answer HEAD
