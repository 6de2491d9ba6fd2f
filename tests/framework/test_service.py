"""The service's own routes: health, readiness, metrics and the admin API (dead letters with replay)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import pytest

from framework import Context, Event, Plugin
from framework.errors import InvalidRequest
from framework.schedules.jobstores import JOBS_TABLE
from framework.testing import BotHarness, RecordingProvider


def failing_plugin() -> Plugin:
    plugin = Plugin("svc")

    @plugin.on("fails.always")
    async def broken(event: Event, ctx: Context) -> None:
        raise InvalidRequest("users: at most 16", provider="devrev", status=400)

    @plugin.on("works")
    async def fine(event: Event, ctx: Context) -> None:
        chat = await ctx.chats["chat"].create_chat("team", ["1", "2"])
        await ctx.chats["chat"].post_message(chat.id, "hi")

    return plugin


async def test_health_ready_and_metrics() -> None:
    async with BotHarness.from_plugins(failing_plugin(), providers={"chat": RecordingProvider()}) as bot:
        assert (await bot.get("/healthz")).status == 200
        ready = await bot.get("/readyz")
        assert ready.status == 200 and (await ready.json())["status"] == "ready"
        await bot.emit("works")
        await bot.emit("fails.always")
        text = await (await bot.get("/metrics")).text()
        assert 'chatwright_events_total{action="done"} 1' in text
        assert 'chatwright_events_total{action="dead"} 1' in text
        assert "chatwright_inbox_pending 0" in text


async def test_admin_lists_dead_letters_and_replays_them() -> None:
    async with BotHarness.from_plugins(failing_plugin(), providers={"chat": RecordingProvider()}) as bot:
        (outcome,) = await bot.emit("fails.always", {"n": 1})
        event_id = outcome.outcome.event.id
        letters = await (await bot.get("/admin/api/dead-letters")).json()
        assert [(d["event"]["id"], d["event"]["data"]) for d in letters] == [(event_id, {"n": 1})]
        assert "users: at most 16" in letters[0]["error"]
        status, body = await bot.post(f"/admin/api/dead-letters/{event_id}/replay")
        assert (status, body) == (200, {"replayed": event_id, "fresh": False})
        await bot.settle()
        assert len(await bot.dead_letters()) == 1  # handled again, failed again, dead again
        status, body = await bot.post("/admin/api/dead-letters/nope/replay")
        assert status == 404 and body["error"] == "not_found"
        page = await bot.get("/admin")
        assert page.status == 200 and event_id in await page.text()


async def test_admin_token_is_required_when_configured() -> None:
    bot = BotHarness.from_plugins(
        failing_plugin(),
        providers={"chat": RecordingProvider()},
        config={"service": {"admin_token": "s3cret"}},
    )
    async with bot:
        denied = await bot.get("/admin/api/dead-letters")
        assert denied.status == 401 and (await denied.json())["error"] == "unauthorized"
        assert bot.client is not None
        allowed = await bot.client.get("/admin/api/dead-letters", headers={"Authorization": "Bearer s3cret"})
        assert allowed.status == 200


async def test_unknown_paths_and_methods_answer_json() -> None:
    async with BotHarness.from_plugins(failing_plugin(), providers={"chat": RecordingProvider()}) as bot:
        missing = await bot.get("/nope")
        assert missing.status == 404 and "error" in await missing.json()
        status, body = await bot.post("/healthz", {})
        assert status == 405 and "error" in body


async def test_admin_bearer_scheme_is_case_insensitive() -> None:
    bot = BotHarness.from_plugins(
        failing_plugin(),
        providers={"chat": RecordingProvider()},
        config={"service": {"admin_token": "s3cret"}},
    )
    async with bot:
        assert bot.client is not None
        for header, status in [
            ("Bearer s3cret", 200),
            ("bearer s3cret", 200),
            ("BEARER  s3cret ", 200),
            ("Bearer S3CRET", 401),  # the token itself is compared exactly
            ("Basic s3cret", 401),
            ("Bearer", 401),
            ("s3cret", 401),
        ]:
            answer = await bot.client.get("/admin/api/dead-letters", headers={"Authorization": header})
            assert answer.status == status, header


async def test_an_admin_authorization_header_that_is_not_utf8_is_refused_401() -> None:
    bot = BotHarness.from_plugins(
        failing_plugin(),
        providers={"chat": RecordingProvider()},
        config={"service": {"admin_token": "s3cret"}},
    )
    async with bot:
        assert bot.client is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", bot.client.port)
        writer.write(
            b"GET /admin/api/dead-letters HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Authorization: Bearer \xff\xfe\r\n\r\n"
        )
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 401 ")


async def test_admin_query_values_are_validated_with_a_json_400() -> None:
    async with BotHarness.from_plugins(failing_plugin(), providers={"chat": RecordingProvider()}) as bot:
        await bot.emit("fails.always")
        for limit in ("9999999999999999999", "0", "1001", "-1", "abc", "", "1e3", "²", "٣"):
            answer = await bot.get(f"/admin/api/dead-letters?limit={limit}")
            assert answer.status == 400, limit
            assert await answer.json() == {
                "error": "invalid_query",
                "detail": "query parameter limit must be an integer from 1 to 1000",
            }
        for limit, listed in (("1", 1), ("1000", 1), ("0007", 1)):
            answer = await bot.get(f"/admin/api/dead-letters?limit={limit}")
            assert answer.status == 200 and len(await answer.json()) == listed


async def test_readyz_hides_the_store_error_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    async with BotHarness.from_plugins(failing_plugin(), providers={"chat": RecordingProvider()}) as bot:
        assert bot.runtime is not None

        async def broken() -> int:
            raise OSError("redis://:hunter2@10.0.0.7:6379 refused")

        bot.runtime.store.pending = broken  # type: ignore[method-assign]
        answer = await bot.get("/readyz")
        assert (answer.status, await answer.json()) == (503, {"status": "store unavailable"})
    assert "OSError: redis://:hunter2@10.0.0.7:6379 refused" in caplog.text


async def test_admin_schedule_reads_leave_the_event_loop_free(monkeypatch: pytest.MonkeyPatch) -> None:
    """/admin/schedules and /admin/api/schedules read the (synchronous) job store in a thread: a slow read holds up
    neither other requests nor the worker. They also list stored jobs that cannot be restored, as broken."""
    async with BotHarness.from_plugins(failing_plugin(), providers={"chat": RecordingProvider()}) as bot:
        assert bot.runtime is not None and bot.runtime.schedules is not None
        job_store = bot.runtime.schedules._jobstore
        with sqlite3.connect(job_store.path) as db:
            db.execute(
                f"INSERT INTO {JOBS_TABLE} (id, next_run_time, job_state) VALUES ('broken-1', 0, x'00')"
            )
        read_all = job_store.get_all_jobs

        def slow_read() -> Any:
            time.sleep(1.0)
            return read_all()

        monkeypatch.setattr(job_store, "get_all_jobs", slow_read)
        api = asyncio.create_task(bot.get("/admin/api/schedules"))
        page = asyncio.create_task(bot.get("/admin/schedules"))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        assert (await bot.get("/healthz")).status == 200
        await bot.emit("works")
        assert time.monotonic() - started < 0.5, "a slow job store read held up the event loop"
        assert not api.done() and not page.done()
        listed = await (await api).json()
        assert {"id": "broken-1", "next_fire": "1970-01-01T00:00:00+00:00"}.items() <= listed[-1].items()
        assert "Error" in listed[-1]["broken"]
        assert "broken-1" in await (await page).text()
