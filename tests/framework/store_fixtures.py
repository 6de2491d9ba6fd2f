"""Store fixtures shared by the store tests: a Redis URL of the test's own, and each kind of store."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from framework.store.base import Store
from framework.store.factory import open_store
from framework.store.sqlite import SQLiteStore
from tests.conftest import require_service
from tests.redis_server import RedisServer

__all__ = [
    "REDIS_URL",
    "claimed_ids",
    "errors_opening_at_once",
    "isolated_redis_url",
    "open_and_start",
    "private_redis",
    "redis_problem",
    "redis_url",
    "require_redis_package",
    "sqlite_inbox",
    "store",
    "store_url",
    "watch_fsyncs",
]

REDIS_URL = "redis://127.0.0.1:6379/15"


T = TypeVar("T")


def errors_opening_at_once(
    attempts: int, make: Callable[[int], T], open_: Callable[[T], object], close: Callable[[T], object]
) -> list[sqlite3.Error]:
    """`attempts` times, two objects from `make(attempt)` opened by two threads released at the same moment, as
    the processes of a host open their files, then closed: the SQLite errors their opening raised."""
    errors: list[sqlite3.Error] = []
    for attempt in range(attempts):
        pair = [make(attempt) for _ in range(2)]
        barrier = threading.Barrier(2)

        def opening(opened: T, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                open_(opened)
            except sqlite3.Error as error:
                errors.append(error)

        threads = [threading.Thread(target=opening, args=(opened,)) for opened in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for opened in pair:
            close(opened)
    return errors


def watch_fsyncs(monkeypatch: pytest.MonkeyPatch, *, held: bool = False) -> tuple[threading.Event, list[int]]:
    """Make every `os.fdatasync` (the SQLite store's fsyncs) wait for the returned gate, set already unless `held`,
    then run for real; the list collects the descriptors synced, in order."""
    gate = threading.Event()
    if not held:
        gate.set()
    synced: list[int] = []
    real = os.fdatasync

    def watched(fd: int) -> None:
        gate.wait(10)
        real(fd)
        synced.append(fd)

    monkeypatch.setattr(os, "fdatasync", watched)
    return gate, synced


def require_redis_package() -> None:
    try:
        import redis  # noqa: F401
    except ImportError as error:
        require_service("redis", False, f"the redis package is not installed ({error})")


@contextlib.contextmanager
def private_redis(directory: Path, *options: str) -> Iterator[RedisServer]:
    """A `redis-server` of the test's own with `options`, its files in `directory` (skips without one)."""
    require_redis_package()
    binary = shutil.which("redis-server")
    require_service("redis-server", binary is not None, "redis-server is not on the PATH")
    assert binary is not None
    server = RedisServer(binary, ("--dir", str(directory), *options))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def redis_problem() -> str | None:
    """Why the Redis at REDIS_URL cannot be used (no redis package, no answer), or None when it can."""
    try:
        import redis
    except ImportError as error:
        return f"the redis package is not installed ({error})"
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        return f"{REDIS_URL}: {error}"
    finally:
        client.close()
    return None


@contextlib.contextmanager
def isolated_redis_url() -> Iterator[str]:
    """A store URL on db 15 with a prefix of its own; its keys are deleted afterwards."""
    import redis

    prefix = f"test-{uuid.uuid4().hex[:12]}"
    try:
        yield f"{REDIS_URL}?prefix={prefix}"
    finally:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        try:
            keys = list(client.scan_iter(match="{" + prefix + "}:*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A store URL on db 15 with a prefix of its own; its keys are deleted afterwards."""
    problem = redis_problem()
    if problem is not None:
        require_service("redis", False, problem)
    with isolated_redis_url() as url:
        yield url


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/inbox.db"
    url: str = request.getfixturevalue("redis_url")
    return url


async def open_and_start(url: str) -> Store:
    store = open_store(url)
    await store.open()
    return store


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await open_and_start(store_url)
    yield opened
    await opened.close()


async def claimed_ids(store: Store, worker: str, limit: int = 10, lease: float = 30) -> list[str]:
    return [entry.event.id for entry in await store.claim(worker, limit, lease)]


@pytest.fixture(name="store")
async def sqlite_inbox(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """`store`, for modules that import this one: an open SQLite store in the test's own directory."""
    opened = SQLiteStore(f"sqlite:///{tmp_path}/inbox.db")
    await opened.open()
    yield opened
    await opened.close()
