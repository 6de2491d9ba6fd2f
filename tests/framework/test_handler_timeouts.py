"""`service.handler_timeout`: a handler still running after it is cancelled and fails with TimeoutError, between
the limit and one tick (a tenth of it) later; handlers that finish in time, and cancellations from elsewhere,
are left alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from framework import Context, Event, Plugin, new_event
from framework.context import Chats, SchedulesUnavailable
from framework.dispatch import Dispatcher, DispatchOutcome
from framework.store.sqlite import SQLiteStore
from tests.framework.store_fixtures import sqlite_inbox  # noqa: F401 - the `store` fixture

LIMIT = 0.2

Handler = Callable[[Event, Context], Awaitable[None]]


async def dispatched(store: SQLiteStore, *handlers: Handler) -> tuple[DispatchOutcome, float]:
    """Dispatch one event to `handlers` under a LIMIT second handler timeout; the outcome and its duration."""
    plugin = Plugin("timed")
    for handler in handlers:
        plugin.on("go")(handler)

    async def emitter(event: Event, ordering_key: str | None) -> str:
        return event.id

    dispatcher = Dispatcher(
        [plugin],
        store=store,
        chats=Chats({}),
        emitter=emitter,
        schedule_api=SchedulesUnavailable(),
        handler_timeout=LIMIT,
    )
    started = time.perf_counter()
    outcome = await dispatcher.dispatch(new_event("go", {}))
    return outcome, time.perf_counter() - started


async def test_a_handler_past_the_limit_fails_with_timeout_error_within_a_tick(store: SQLiteStore) -> None:
    async def hangs(event: Event, ctx: Context) -> None:
        await asyncio.Event().wait()

    outcome, took = await dispatched(store, hangs)
    (failure,) = outcome.failures
    assert isinstance(failure.error, TimeoutError)
    assert f"still running after {LIMIT:g} s" in str(failure.error)
    assert LIMIT <= took <= LIMIT + LIMIT / 10 + 0.15  # the tick, and room for a loaded machine


async def test_handlers_that_finish_in_time_succeed_beside_one_that_does_not(store: SQLiteStore) -> None:
    async def quick(event: Event, ctx: Context) -> None:
        await asyncio.sleep(0)

    async def hangs(event: Event, ctx: Context) -> None:
        await asyncio.Event().wait()

    outcome, _ = await dispatched(store, quick, hangs)
    assert outcome.succeeded == ("timed.quick",)
    assert [type(failure.error) for failure in outcome.failures] == [TimeoutError]


async def test_a_handler_may_catch_its_timeout_like_asyncio_timeout(store: SQLiteStore) -> None:
    caught: list[str] = []

    async def cleans_up(event: Event, ctx: Context) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            caught.append("cancelled")
            raise

    outcome, _ = await dispatched(store, cleans_up)
    assert caught == ["cancelled"]
    assert [type(failure.error) for failure in outcome.failures] == [TimeoutError]


async def test_a_cancellation_from_elsewhere_stays_a_cancellation(store: SQLiteStore) -> None:
    started = asyncio.Event()

    async def waits(event: Event, ctx: Context) -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(dispatched(store, waits))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
