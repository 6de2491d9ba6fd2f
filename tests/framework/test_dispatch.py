"""Dispatcher and worker: matching, middleware, concurrency, ordering, retries with backoff, dead letters."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import pytest

from framework import Context, Event, Plugin
from framework.dispatch import Dispatcher, NextHandler
from framework.errors import InvalidRequest, Unavailable
from framework.events import new_event
from framework.retries import HandlerRetry
from framework.store.sqlite import SQLiteStore
from framework.worker import Disposition, Worker
from tests.conftest import wait_until
from tests.framework.dispatch_helpers import make_dispatcher
from tests.framework.store_fixtures import sqlite_inbox  # noqa: F401 - the `store` fixture


async def test_exact_glob_and_filter_matching(store: SQLiteStore) -> None:
    plugin = Plugin("p")
    seen: list[str] = []

    @plugin.on("shift.published")
    async def exact(event: Event, ctx: Context) -> None:
        seen.append("exact")

    @plugin.on("shift.*")
    async def glob(event: Event, ctx: Context) -> None:
        seen.append("glob")

    @plugin.on("shift.published", filter=lambda e: e.data.get("urgent") is True)
    async def urgent(event: Event, ctx: Context) -> None:
        seen.append("urgent")

    dispatcher = make_dispatcher(store, plugin)
    outcome = await dispatcher.dispatch(new_event("shift.published", {"urgent": False}))
    assert sorted(seen) == ["exact", "glob"]
    assert outcome.ok and sorted(outcome.succeeded) == ["p.exact", "p.glob"]
    seen.clear()
    await dispatcher.dispatch(new_event("shift.renamed"))
    assert seen == ["glob"]
    seen.clear()
    await dispatcher.dispatch(new_event("shift.published", {"urgent": True}))
    assert sorted(seen) == ["exact", "glob", "urgent"]


async def test_middleware_wraps_every_call_in_order(store: SQLiteStore) -> None:
    plugin = Plugin("p")
    trail: list[str] = []

    @plugin.on("x")
    async def handler(event: Event, ctx: Context) -> None:
        trail.append(f"handler:{ctx.plugin}")

    async def outer(call_next: NextHandler, event: Event, ctx: Context) -> None:
        trail.append("outer-in")
        await call_next(event, ctx)
        trail.append("outer-out")

    async def inner(call_next: NextHandler, event: Event, ctx: Context) -> None:
        trail.append("inner-in")
        await call_next(event, ctx)

    dispatcher = make_dispatcher(store, plugin)
    dispatcher.add_middleware(outer)
    dispatcher.add_middleware(inner)
    await dispatcher.dispatch(new_event("x"))
    assert trail == ["outer-in", "inner-in", "handler:p", "outer-out"]


async def test_a_failing_handler_does_not_stop_its_siblings_and_is_reported(store: SQLiteStore) -> None:
    plugin = Plugin("p")
    ran: list[str] = []

    @plugin.on("x")
    async def good(event: Event, ctx: Context) -> None:
        ran.append("good")

    @plugin.on("x")
    async def bad(event: Event, ctx: Context) -> None:
        raise ValueError("nope")

    outcome = await make_dispatcher(store, plugin).dispatch(new_event("x"))
    assert ran == ["good"]
    assert outcome.succeeded == ("p.good",)
    assert [(f.handler, str(f.error)) for f in outcome.failures] == [("p.bad", "nope")]


async def test_on_retry_only_the_failed_handlers_run_again(store: SQLiteStore) -> None:
    plugin = Plugin("p")
    runs = {"good": 0, "flaky": 0}

    @plugin.on("x")
    async def good(event: Event, ctx: Context) -> None:
        runs["good"] += 1

    @plugin.on("x")
    async def flaky(event: Event, ctx: Context) -> None:
        runs["flaky"] += 1
        if event.attempt == 1:
            raise Unavailable("provider down")

    dispatcher = make_dispatcher(store, plugin)
    event = new_event("x")
    await dispatcher.dispatch(event)
    import attrs

    second = await dispatcher.dispatch(attrs.evolve(event, attempt=2))
    assert runs == {"good": 1, "flaky": 2}
    assert second.skipped == ("p.good",) and second.ok


async def run_worker(
    store: SQLiteStore, dispatcher: Dispatcher, **kwargs: Any
) -> tuple[Worker, list[Disposition], asyncio.Task[None]]:
    dispositions: list[Disposition] = []
    worker = Worker(
        store, dispatcher, poll_interval=0.02, listeners=[dispositions.append], rng=random.Random(1), **kwargs
    )
    return worker, dispositions, asyncio.create_task(worker.run())


async def stop(worker: Worker, task: asyncio.Task[None]) -> None:
    worker.stop()
    await task
    await worker.drain(1)


async def test_failing_handler_is_retried_then_dead_lettered(store: SQLiteStore) -> None:
    plugin = Plugin("p")
    attempts: list[int] = []

    @plugin.on("x")
    async def always_fails(event: Event, ctx: Context) -> None:
        attempts.append(event.attempt)
        raise RuntimeError("still broken")

    worker, dispositions, task = await run_worker(
        store, make_dispatcher(store, plugin), retry=HandlerRetry(attempts=3, base_delay=0.01, max_delay=0.02)
    )
    event = new_event("x")
    await store.append(event)
    await wait_until(lambda: any(d.action == "dead" for d in dispositions))
    await stop(worker, task)
    assert attempts == [1, 2, 3]
    assert [d.action for d in dispositions] == ["retry", "retry", "dead"]
    (letter,) = await store.dead_letters()
    assert letter.event.id == event.id and "still broken" in letter.error and letter.attempts == 3


async def test_not_retryable_provider_errors_are_dead_lettered_at_once(store: SQLiteStore) -> None:
    plugin = Plugin("p")

    @plugin.on("x")
    async def invalid(event: Event, ctx: Context) -> None:
        raise InvalidRequest("users: at most 16", provider="devrev", status=400)

    worker, dispositions, task = await run_worker(store, make_dispatcher(store, plugin))
    await store.append(new_event("x"))
    await wait_until(lambda: bool(dispositions))
    await stop(worker, task)
    assert [d.action for d in dispositions] == ["dead"]
    (letter,) = await store.dead_letters()
    assert "not retryable" in letter.error


async def test_concurrency_is_bounded(store: SQLiteStore) -> None:
    plugin = Plugin("p")
    running = 0
    peak = 0
    release = asyncio.Event()

    @plugin.on("x")
    async def slow(event: Event, ctx: Context) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    worker, dispositions, task = await run_worker(store, make_dispatcher(store, plugin), concurrency=4)
    for _ in range(10):
        await store.append(new_event("x"))
    await wait_until(lambda: running == 4)
    release.set()
    await wait_until(lambda: len(dispositions) == 10)
    await stop(worker, task)
    assert peak == 4


async def test_events_sharing_an_ordering_key_are_handled_in_order(store: SQLiteStore) -> None:
    plugin = Plugin("p")
    order: list[int] = []

    @plugin.on("x")
    async def record(event: Event, ctx: Context) -> None:
        await asyncio.sleep(0.001 * (5 - event.data["n"] % 5))
        order.append(event.data["n"])

    for n in range(20):
        await store.append(new_event("x", {"n": n}), ordering_key="chat-1")
    worker, dispositions, task = await run_worker(store, make_dispatcher(store, plugin), concurrency=8)
    await wait_until(lambda: len(dispositions) == 20)
    await stop(worker, task)
    assert order == list(range(20))


async def test_emit_from_a_handler_is_not_duplicated_by_a_retry(store: SQLiteStore) -> None:
    plugin = Plugin("p")
    children: list[str] = []

    @plugin.on("parent")
    async def parent(event: Event, ctx: Context) -> None:
        await ctx.emit("child", {"from": event.id})
        if event.attempt == 1:
            raise Unavailable("try again")

    @plugin.on("child")
    async def child(event: Event, ctx: Context) -> None:
        children.append(event.id)

    worker, dispositions, task = await run_worker(
        store, make_dispatcher(store, plugin), retry=HandlerRetry(attempts=3, base_delay=0.01)
    )
    parent_event = new_event("parent")
    await store.append(parent_event)
    await wait_until(lambda: sum(d.action == "done" for d in dispositions) == 2)
    await stop(worker, task)
    assert len(children) == 1


async def test_drain_leaves_unfinished_events_in_the_inbox(store: SQLiteStore) -> None:
    plugin = Plugin("p")
    started = asyncio.Event()

    @plugin.on("x")
    async def stuck(event: Event, ctx: Context) -> None:
        started.set()
        await asyncio.Event().wait()

    worker, _, task = await run_worker(store, make_dispatcher(store, plugin))
    await store.append(new_event("x"))
    await asyncio.wait_for(started.wait(), 5)
    worker.stop()
    await task
    assert await worker.drain(0.05) == 1
    (entry,) = await store.claim("next-start", 1, lease=30)
    assert entry.attempt == 1


async def test_state_is_per_plugin(store: SQLiteStore) -> None:
    first, second = Plugin("first"), Plugin("second")
    values: dict[str, object] = {}

    @first.on("x")
    async def write(event: Event, ctx: Context) -> None:
        await ctx.state.set("key", {"by": "first"})

    @second.on("y")
    async def read(event: Event, ctx: Context) -> None:
        values["second"] = await ctx.state.get("key", "absent")

    dispatcher = make_dispatcher(store, first, second)
    await dispatcher.dispatch(new_event("x"))
    await dispatcher.dispatch(new_event("y"))
    assert values == {"second": "absent"}
    assert await store.state_get("first", "key") == {"by": "first"}


async def test_a_malformed_event_is_dead_lettered_without_retries(store: SQLiteStore) -> None:
    from framework import InvalidEvent

    plugin = Plugin("p")

    @plugin.on("x")
    async def strict(event: Event, ctx: Context) -> None:
        raise InvalidEvent("shift.starts_at: missing")

    worker, dispositions, task = await run_worker(store, make_dispatcher(store, plugin))
    await store.append(new_event("x"))
    await wait_until(lambda: bool(dispositions))
    await stop(worker, task)
    assert [d.action for d in dispositions] == ["dead"]
    (letter,) = await store.dead_letters()
    assert "shift.starts_at: missing" in letter.error


async def test_handler_calls_are_logged_with_their_duration(
    store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    plugin = Plugin("p")
    trail: list[str] = []

    @plugin.on("x")
    async def ok(event: Event, ctx: Context) -> None:
        trail.append("ok")

    @plugin.on("y")
    async def bad(event: Event, ctx: Context) -> None:
        raise ValueError("nope")

    async def later(call_next: NextHandler, event: Event, ctx: Context) -> None:
        trail.append("later")
        await call_next(event, ctx)

    dispatcher = make_dispatcher(store, plugin)
    dispatcher.add_middleware(later)
    with caplog.at_level(logging.DEBUG):
        await dispatcher.dispatch(new_event("x"))
        await dispatcher.dispatch(new_event("y"))
    assert trail == ["later", "ok", "later"]
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert any(level == "DEBUG" and " handled in " in text for level, text in messages)
    assert any(level == "WARNING" and " handler failed after " in text for level, text in messages)


async def test_timing_middleware_placed_inside_others_still_times_the_call(
    store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    plugin = Plugin("p")

    @plugin.on("y")
    async def bad(event: Event, ctx: Context) -> None:
        raise ValueError("nope")

    async def first(call_next: NextHandler, event: Event, ctx: Context) -> None:
        await call_next(event, ctx)

    dispatcher = make_dispatcher(store, plugin)
    dispatcher.middlewares.insert(0, first)
    with caplog.at_level(logging.WARNING):
        await dispatcher.dispatch(new_event("y"))
    assert any(" handler failed after " in r.getMessage() for r in caplog.records)
