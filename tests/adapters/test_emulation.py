"""The emulator kit on a tiny app: scripted answers, recording, faults, admin routes (also under a prefix)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from framework.adapter_registry import EmulatorOptions
from framework.emulation import FAULTS_KEY, ScriptedAnswer, emulator_app, read_json

Client = TestClient[Any, Any]
THINGS: web.AppKey[list[Any]] = web.AppKey("things")


def error_body(status: int, message: str, retry_after: float | None) -> web.StreamResponse:
    """The tiny provider's own error answer."""
    headers = {"Retry-After": str(round(retry_after))} if retry_after is not None else None
    return web.json_response({"error": message}, status=status, headers=headers)


def make_app(options: EmulatorOptions | None = None) -> web.Application:
    things: list[Any] = []
    app = emulator_app(options=options or EmulatorOptions(), error_responder=error_body, reset=things.clear)
    app[THINGS] = things

    async def add(request: web.Request) -> web.Response:
        things.append(await read_json(request))
        return web.json_response({"index": len(things) - 1}, status=201)

    async def listing(_: web.Request) -> web.Response:
        return web.json_response(things)

    async def one(request: web.Request) -> web.StreamResponse:
        index = int(request.match_info["index"])
        if index >= len(things):
            return error_body(404, "no such thing", None)
        return web.json_response(things[index])

    app.router.add_post("/things", add)
    app.router.add_get("/things", listing)
    app.router.add_get("/things/{index:\\d+}", one)
    return app


@pytest.fixture
async def client(aiohttp_client: AiohttpClient) -> Client:
    return await aiohttp_client(make_app())


def things(client: Client) -> list[Any]:
    stored: list[Any] = client.app[THINGS]
    return stored


async def script(client: Client, prefix: str = "", **answer: Any) -> None:
    response = await client.post(f"{prefix}/_emulator/script", json=answer)
    assert response.status == 200, await response.text()


async def answer(response: Any) -> tuple[int, Any]:
    return response.status, await response.json()


# --- scripted answers ------------------------------------------------------------------------------


async def test_a_scripted_error_is_answered_before_acting_and_the_retry_succeeds(client: Client) -> None:
    await script(client, status=503)

    failed = await client.post("/things", json={"name": "a"})
    assert await answer(failed) == (503, {"error": "Scripted failure"})
    assert things(client) == []

    retried = await client.post("/things", json={"name": "a"})
    assert await answer(retried) == (201, {"index": 0})
    assert things(client) == [{"name": "a"}]


async def test_a_scripted_2xx_is_answered_after_acting_with_an_empty_body_or_the_given_one(
    client: Client,
) -> None:
    await script(client, answers=[{"status": 204}, {"status": 200, "body": {"odd": True}}])

    empty = await client.post("/things", json={"name": "a"})
    given = await client.post("/things", json={"name": "b"})

    assert (empty.status, await empty.read()) == (204, b"")
    assert await answer(given) == (200, {"odd": True})
    assert things(client) == [{"name": "a"}, {"name": "b"}]


async def test_a_scripted_2xx_leaves_an_error_of_the_route_alone(client: Client) -> None:
    await script(client, status=200)

    missing = await client.get("/things/5")

    assert await answer(missing) == (404, {"error": "no such thing"})
    assert client.app[FAULTS_KEY].scripted == []


async def test_a_scripted_error_with_a_body_and_retry_after_answers_exactly_that(client: Client) -> None:
    await script(client, status=429, retry_after=2, body={"custom": "shape"})

    response = await client.get("/things")

    assert await answer(response) == (429, {"custom": "shape"})
    assert response.headers["Retry-After"] == "2"


async def test_answers_are_given_in_order_with_the_error_responders_retry_after(client: Client) -> None:
    await script(client, answers=[{"status": 429, "retry_after": 1}, {"status": 502}])

    limited = await client.get("/things")
    failed = await client.get("/things")
    served = await client.get("/things")

    assert await answer(limited) == (429, {"error": "Scripted failure"})
    assert limited.headers["Retry-After"] == "1"
    assert (failed.status, served.status) == (502, 200)


async def test_an_answer_matches_only_its_method_and_exact_path(client: Client) -> None:
    await script(client, status=500, method="post", path="/things")

    read = await client.get("/things")
    other_path = await client.get("/things/0")
    matched = await client.post("/things", json={})

    assert (read.status, other_path.status, matched.status) == (200, 404, 500)
    assert client.app[FAULTS_KEY].scripted == []


async def test_a_request_takes_the_first_answer_that_matches_it(client: Client) -> None:
    await script(client, answers=[{"status": 503, "path": "/things/0"}, {"status": 502, "method": "POST"}])

    posted = await client.post("/things", json={})
    read = await client.get("/things/0")

    assert (posted.status, read.status) == (502, 503)


async def test_times_answers_that_many_requests(client: Client) -> None:
    await script(client, status=503, times=2)

    statuses = [(await client.get("/things")).status for _ in range(3)]

    assert statuses == [503, 503, 200]


async def test_tests_may_queue_answers_without_http(client: Client) -> None:
    client.app[FAULTS_KEY].scripted.append(ScriptedAnswer(503, path="/things"))

    assert (await client.get("/things")).status == 503
    assert (await client.get("/things")).status == 200


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        {"status": 99},
        {"status": "503"},
        {"status": True},
        {"status": 503, "times": 0},
        {"status": 503, "retry_after": "soon"},
        {"status": 503, "path": 7},
        {"status": 503, "unknown": 1},
        {"answers": "none"},
        {"answers": [{"status": 503}, "x"]},
        {"answers": [{"status": 503}], "status": 500},
    ],
)
async def test_a_bad_script_is_a_400_and_queues_nothing(client: Client, bad: Any) -> None:
    response = await client.post("/_emulator/script", json=bad)

    assert response.status == 400
    assert "expected {status" in (await response.json())["message"]
    assert client.app[FAULTS_KEY].scripted == []


async def test_reset_forgets_the_state_the_script_and_the_recordings(client: Client) -> None:
    await client.post("/things", json={"name": "a"})
    await script(client, status=503)

    reset = await client.post("/_emulator/reset")
    listing = await client.get("/things")
    recorded = await (await client.get("/_emulator/requests")).json()

    assert await answer(reset) == (200, {"reset": True})
    assert await answer(listing) == (200, [])
    assert [(entry["method"], entry["path"]) for entry in recorded] == [("GET", "/things")]


# --- recording and faults --------------------------------------------------------------------------


async def test_requests_are_recorded_with_case_insensitive_headers(client: Client) -> None:
    await client.post("/things?color=red", json={"name": "a"}, headers={"X-Api-Key": "k"})
    await client.get("/things")

    posted, listed = client.app[FAULTS_KEY].requests
    recorded = await (await client.get("/_emulator/requests")).json()

    assert (posted.method, posted.path, posted.query, posted.body) == (
        "POST",
        "/things",
        {"color": "red"},
        {"name": "a"},
    )
    assert posted.header("x-api-key") == posted.header("X-API-KEY") == "k"
    assert posted.header("content-type") == "application/json"
    assert listed.header("x-api-key") is None and listed.body is None
    assert [(entry["method"], entry["path"], entry["body"]) for entry in recorded] == [
        ("POST", "/things", {"name": "a"}),
        ("GET", "/things", None),
    ]


async def test_over_the_rate_limit_is_the_providers_429_with_retry_after(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await aiohttp_client(make_app(EmulatorOptions(rate_limit=1)))

    first = await client.get("/things")
    second = await client.get("/things")

    assert first.status == 200
    assert await answer(second) == (429, {"error": "Too many requests"})
    assert second.headers["Retry-After"] == "1"
    assert client.app[FAULTS_KEY].throttled == 1


async def test_faults_change_at_run_time(client: Client) -> None:
    changed = await client.post("/_emulator/faults", json={"error_rate": 1.0, "ignored": 1})

    assert (await changed.json())["error_rate"] == 1.0
    assert await answer(await client.get("/things")) == (503, {"error": "Injected failure"})


async def test_latency_can_be_asked_for_per_request(client: Client) -> None:
    started = time.monotonic()

    response = await client.get("/things", params={"_latency": "0.2"})

    assert response.status == 200 and time.monotonic() - started >= 0.2


async def test_admin_routes_are_neither_recorded_nor_faulted_under_a_prefix(
    aiohttp_client: AiohttpClient,
) -> None:
    root = web.Application()
    root.add_subapp("/p", make_app(EmulatorOptions(rate_limit=1, error_rate=1.0)))
    client = await aiohttp_client(root)

    admin = [
        await client.post("/p/_emulator/faults", json={}),
        await client.get("/p/_emulator/requests"),
        await client.get("/p/_emulator/requests"),
    ]
    injected = await client.get("/p/things")
    recorded = await client.get("/p/_emulator/requests")

    assert [response.status for response in admin] == [200, 200, 200]
    assert await answer(injected) == (503, {"error": "Injected failure"})
    assert [(entry["method"], entry["path"]) for entry in await recorded.json()] == [("GET", "/p/things")]


async def test_a_scripted_path_matches_below_the_mount_point_or_in_full(
    aiohttp_client: AiohttpClient,
) -> None:
    root = web.Application()
    root.add_subapp("/p", make_app())
    client = await aiohttp_client(root)
    await script(
        client, "/p", answers=[{"status": 503, "path": "/things"}, {"status": 502, "path": "/p/things"}]
    )

    relative = await client.get("/p/things")
    full = await client.get("/p/things")
    served = await client.get("/p/things")

    assert (relative.status, full.status, served.status) == (503, 502, 200)
    assert await relative.json() == {"error": "Scripted failure"}
