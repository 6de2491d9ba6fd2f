"""Failures an operator must be able to see: tracebacks, unmatched events, bounded caches, capped waits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

import pytest

from framework import Context, Event, Plugin
from framework.dispatch import MAX_CACHED_TYPES
from framework.errors import RateLimited
from framework.events import new_event
from framework.retries import HandlerRetry
from framework.store.base import Finished
from framework.store.sqlite import SQLiteStore
from framework.worker import Disposition, Worker
from tests.conftest import wait_until
from tests.framework.dispatch_helpers import make_dispatcher
from tests.framework.store_fixtures import sqlite_inbox  # noqa: F401 - the `store` fixture


def failing_plugin(error: Exception) -> Plugin:
    plugin = Plugin("p")

    @plugin.on("a")
    async def fails(event: Event, ctx: Context) -> None:
        raise error

    return plugin


async def test_a_first_failure_is_logged_with_its_traceback(
    store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    dispatcher = make_dispatcher(store, failing_plugin(ValueError("broken")))
    with caplog.at_level(logging.WARNING, logger="chatwright.dispatch"):
        await dispatcher.dispatch(new_event("a"))
    (record,) = [r for r in caplog.records if r.name == "chatwright.dispatch"]
    assert record.exc_info is not None and record.exc_info[0] is ValueError
    assert "in fails" in caplog.text  # the handler's frame is in the traceback


async def test_a_dead_letter_is_logged_with_its_traceback(
    store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    outcomes: list[Disposition] = []
    worker = Worker(
        store,
        make_dispatcher(store, failing_plugin(ValueError("broken"))),
        retry=HandlerRetry(attempts=1),
        listeners=[outcomes.append],
        poll_interval=0.01,
    )
    await store.append(new_event("a"))
    with caplog.at_level(logging.ERROR, logger="chatwright.worker"):
        runner = asyncio.create_task(worker.run())
        await wait_until(lambda: len(outcomes) == 1)
        worker.stop()
        await runner
    (record,) = [r for r in caplog.records if "dead-lettered" in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is ValueError


async def test_an_event_no_handler_matches_is_logged_and_counted(
    store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    dispatcher = make_dispatcher(store, failing_plugin(ValueError("unused")))
    with caplog.at_level(logging.INFO, logger="chatwright.dispatch"):
        outcome = await dispatcher.dispatch(new_event("nobody.listens"))
    assert outcome.ok and outcome.succeeded == ()
    assert dispatcher.unmatched == 1
    assert "no handler matches nobody.listens" in caplog.text


async def test_event_types_chosen_by_senders_do_not_grow_the_dispatchers_memory(store: SQLiteStore) -> None:
    dispatcher = make_dispatcher(store, failing_plugin(ValueError("unused")))
    for index in range(MAX_CACHED_TYPES * 3):
        dispatcher.handlers_for(f"sender.chosen.{index}")
    assert len(dispatcher._by_type) <= MAX_CACHED_TYPES  # no public view of the cache; its size is the point
    assert [h.name for h in dispatcher.handlers_for("a")] == ["p.fails"]


async def test_a_providers_retry_after_is_capped_by_the_retry_policy(store: SQLiteStore) -> None:
    outcomes: list[Disposition] = []
    worker = Worker(
        store,
        make_dispatcher(store, failing_plugin(RateLimited("slow down", provider="x", retry_after=86_400))),
        retry=HandlerRetry(attempts=3, base_delay=0.01, max_delay=30.0),
        listeners=[outcomes.append],
        poll_interval=0.01,
        rng=random.Random(1),
    )
    await store.append(new_event("a"))
    runner = asyncio.create_task(worker.run())
    await wait_until(lambda: len(outcomes) == 1)
    worker.stop()
    await runner
    await worker.drain(1)
    assert outcomes[0].action == "retry"
    assert outcomes[0].delay == 30.0


class AckFails(SQLiteStore):
    async def ack(self, event_id: str, finished: Finished | None = None) -> None:
        raise OSError("disk gone")


async def test_a_failure_to_finish_an_event_is_logged(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = AckFails(f"sqlite:///{tmp_path}/inbox.db")
    await store.open()
    plugin = Plugin("p")
    handled: list[str] = []

    @plugin.on("a")
    async def ok(event: Event, ctx: Context) -> None:
        handled.append(event.id)

    worker = Worker(store, make_dispatcher(store, plugin), poll_interval=0.01)
    try:
        await store.append(new_event("a"))
        with caplog.at_level(logging.ERROR, logger="chatwright.worker"):
            runner = asyncio.create_task(worker.run())
            await wait_until(lambda: "could not be finished" in caplog.text)
            worker.stop()
            await runner
        assert "OSError: disk gone" in caplog.text
    finally:
        await worker.drain(1)
        await store.close()


async def test_a_handler_that_ignores_its_cancellation_does_not_hold_up_the_drain(
    store: SQLiteStore, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("framework.worker.CANCEL_GRACE", 0.1)
    plugin = Plugin("p")
    started, released = asyncio.Event(), asyncio.Event()

    @plugin.on("a")
    async def stubborn(event: Event, ctx: Context) -> None:
        started.set()
        while not released.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.05)

    worker = Worker(store, make_dispatcher(store, plugin), poll_interval=0.01)
    await store.append(new_event("a"))
    runner = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 5)
    worker.stop()
    await runner
    with caplog.at_level(logging.ERROR, logger="chatwright.worker"):
        assert await asyncio.wait_for(worker.drain(0.05), 2) == 1  # given back, not waited for
    assert "did not stop within" in caplog.text
    released.set()


async def test_a_startup_hook_that_hangs_stops_the_start_with_a_clear_error(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from framework.config import config_from_dict
    from framework.errors import ConfigError
    from framework.runtime import Runtime

    monkeypatch.setattr("framework.runtime.HOOK_TIMEOUT", 0.1)
    plugin = Plugin("slow")

    @plugin.on_startup
    async def warm_up(ctx: Context) -> None:
        await asyncio.sleep(10)

    config = config_from_dict(
        {"store": {"url": f"sqlite:///{tmp_path}/bot.db"}, "plugins": {"entry_points": False}},
        tmp_path / "bot.toml",
        "bot.toml",
        {},
    )
    runtime = Runtime(config, plugins=[plugin], with_schedules=False)
    with pytest.raises(ConfigError, match="startup hook of plugin slow"):
        await asyncio.wait_for(runtime.start(worker=False), 5)
    await runtime.stop()


async def test_leases_are_kept_while_the_drain_waits_for_a_handler(store: SQLiteStore) -> None:
    plugin = Plugin("p")
    started, finish = asyncio.Event(), asyncio.Event()

    @plugin.on("a")
    async def slow(event: Event, ctx: Context) -> None:
        started.set()
        await finish.wait()

    worker = Worker(store, make_dispatcher(store, plugin), poll_interval=0.01, lease=0.3)
    await store.append(new_event("a"))
    runner = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 5)
    worker.stop()
    await runner
    draining = asyncio.create_task(worker.drain(10))
    deadline = asyncio.get_running_loop().time() + 1.0  # three leases
    while asyncio.get_running_loop().time() < deadline:
        assert await store.claim("another-worker", 1, lease=30) == []  # still held by the draining worker
        await asyncio.sleep(0.05)
    finish.set()
    assert await draining == 0
