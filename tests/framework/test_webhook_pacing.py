"""Webhooks paced to the handlers: `Worker.intake` waits while the worker's backlog in the inbox is full.

A sender that waits for each answer would otherwise keep the inbox growing as long as it sends faster than the
handlers act. The wait is bounded (MAX_WEBHOOK_HOLD) and refuses nothing; other producers never wait.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pytest_aiohttp.plugin import AiohttpClient

from framework import worker as worker_module
from framework.config import config_from_dict, load_config
from framework.errors import ConfigError
from framework.events import new_event
from framework.runtime import Runtime
from framework.service import create_app
from framework.store.sqlite import SQLiteStore
from framework.worker import Worker
from tests.conftest import wait_until
from tests.framework.metrics_helpers import samples
from tests.framework.store_fixtures import sqlite_inbox  # noqa: F401 - the `store` fixture
from tests.framework.test_handoff import recording_plugin, started, stopped

TIMEOUT = 10.0


class Tickets:
    """Lets handlers return one at a time: each call waits for a ticket (`one()` gives one); `set()` lets every
    call through, the ones waiting included (it has the `wait`/`set` of the asyncio.Event it stands in for)."""

    def __init__(self) -> None:
        self._tickets: asyncio.Queue[None] = asyncio.Queue()
        self._open = False

    def one(self) -> None:
        self._tickets.put_nowait(None)

    def set(self) -> None:
        self._open = True
        for _ in range(100):  # more than any test has calls waiting
            self._tickets.put_nowait(None)

    async def wait(self) -> None:
        if not self._open:
            await self._tickets.get()


async def _full_backlog(
    store: SQLiteStore, backlog: int, seen: list[str] | None = None
) -> tuple[Worker, asyncio.Task[None], Tickets]:
    """A worker with one handler slot, taken by a handler waiting for a ticket, and `backlog` events waiting in
    the inbox."""
    gate = Tickets()
    seen = [] if seen is None else seen
    worker, task = await started(
        store,
        recording_plugin(seen, gate),  # type: ignore[arg-type]  # waits like an asyncio.Event
        concurrency=1,
        prefetch=0,
        webhook_backlog=backlog,
    )
    assert (await worker.intake(new_event("x", {"n": "running"}))).claimed
    await wait_until(lambda: seen == ["running"])
    for n in range(backlog):
        assert not (await worker.intake(new_event("x", {"n": f"waiting-{n}"}))).claimed
    assert worker.held == 0  # the backlog filled up without a wait
    return worker, task, gate


async def test_a_webhook_waits_while_the_backlog_is_full_and_goes_in_once_a_claim_takes_it_below(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "MAX_WEBHOOK_HOLD", 3600.0)  # only the claim can end this wait
    seen: list[str] = []
    worker, task, gate = await _full_backlog(store, backlog=2, seen=seen)
    webhook = asyncio.create_task(worker.intake(new_event("x", {"n": "held"}, id="held")))
    await wait_until(lambda: worker.held == 1)
    # An emit or a schedule fire submitted after it is appended at once (and waits in the inbox too); the webhook
    # still waits.
    emitted = await worker.append(new_event("x", {"n": "emitted"}))
    assert not emitted.duplicate
    assert not webhook.done()
    gate.one()  # a handler returns and the worker claims "waiting-0": 2 still wait ("waiting-1", "emitted")
    await wait_until(lambda: seen[-1] == "waiting-0")
    assert not webhook.done()
    gate.one()  # ... and "waiting-1": the backlog falls below 2
    result = await asyncio.wait_for(webhook, TIMEOUT)  # while "emitted" still waits in the inbox
    assert not result.duplicate
    assert seen[-1] == "waiting-1"
    gate.set()
    await wait_until(lambda: worker.handled == 5, timeout=TIMEOUT)
    assert await store.pending() == 0
    await stopped(worker, task)


async def test_a_webhook_goes_in_after_the_longest_wait_when_the_backlog_does_not_fall(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "MAX_WEBHOOK_HOLD", 0.05)
    worker, task, gate = await _full_backlog(store, backlog=1)
    result = await asyncio.wait_for(worker.intake(new_event("x", {"n": "late"})), TIMEOUT)
    assert worker.held == 1
    assert not result.duplicate and not result.claimed  # taken in all the same, to wait in the inbox
    gate.set()
    await wait_until(lambda: worker.handled == 3, timeout=TIMEOUT)
    await stopped(worker, task)


async def test_a_held_webhook_goes_in_when_the_worker_stops(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "MAX_WEBHOOK_HOLD", 3600.0)
    worker, task, gate = await _full_backlog(store, backlog=1)
    webhook = asyncio.create_task(worker.intake(new_event("x", {"n": "held"})))
    await wait_until(lambda: worker.held == 1)
    worker.stop()
    assert not (await asyncio.wait_for(webhook, TIMEOUT)).duplicate
    gate.set()
    await task
    await worker.drain(1)


async def test_webhook_backlog_0_never_waits(store: SQLiteStore) -> None:
    worker, task, gate = await _full_backlog(store, backlog=0)
    for n in range(5):
        assert not (await worker.intake(new_event("x", {"n": str(n)}))).claimed
    assert worker.held == 0
    gate.set()
    await wait_until(lambda: worker.handled == 6, timeout=TIMEOUT)
    await stopped(worker, task)


async def test_the_service_holds_a_webhooks_answer_while_its_backlog_is_full_and_counts_it(
    tmp_path: Path, aiohttp_client: AiohttpClient
) -> None:
    raw = {
        "store": {"url": f"sqlite:///{tmp_path / 'inbox.db'}"},
        "webhooks": [{"path": "/hooks/x", "event": "x", "verify": {"scheme": "none"}, "insecure": True}],
        "plugins": {"entry_points": False},
        "service": {"concurrency": 1, "webhook_backlog": 1},
    }
    config = config_from_dict(raw, tmp_path / "bot.toml", "bot.toml", {})
    gate = Tickets()
    seen: list[str] = []
    plugin = recording_plugin(seen, gate)  # type: ignore[arg-type]  # waits like an asyncio.Event
    runtime = Runtime(config, plugins=[plugin], providers={}, with_schedules=False)
    assert (
        Runtime(
            config_from_dict({**raw, "service": {"concurrency": 16}}, tmp_path / "b.toml", "b.toml", {}),
            plugins=[],
            with_schedules=False,
        ).worker.webhook_backlog
        == 16
    )  # unset: `concurrency`
    client = await aiohttp_client(create_app(runtime))
    await wait_until(lambda: runtime.worker._inbox_clear)
    assert (await client.post("/hooks/x", json={"n": "running"})).status == 202
    await wait_until(lambda: seen == ["running"])
    assert (await client.post("/hooks/x", json={"n": "waiting"})).status == 202  # the backlog is full now
    held = asyncio.create_task(client.post("/hooks/x", json={"n": "held"}))
    await wait_until(lambda: runtime.worker.held == 1)
    assert not held.done()
    gate.one()  # "running" returns, "waiting" is claimed: the backlog is empty
    assert (await asyncio.wait_for(held, TIMEOUT)).status == 202
    assert samples(await (await client.get("/metrics")).text())["chatwright_webhooks_held_total"] == 1
    gate.set()
    await wait_until(lambda: runtime.worker.handled == 3, timeout=TIMEOUT)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-1", "service.webhook_backlog: must be >= 0: -1"),
        ('"x"', "service.webhook_backlog: expected an integer"),
    ],
)
def test_a_bad_webhook_backlog_names_the_key_and_what_it_needs(
    tmp_path: Path, value: str, expected: str
) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(f"[service]\nwebhook_backlog = {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems
