"""Fixtures every test module of tests/framework may ask for by name, without importing them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from framework.store.base import Store
from tests.framework.process_helpers import processes as processes
from tests.framework.store_fixtures import open_and_start
from tests.framework.store_fixtures import redis_url as redis_url
from tests.framework.store_fixtures import store_url as store_url


@pytest.fixture
async def any_store(store_url: str) -> AsyncIterator[Store]:
    """An open store of each kind (SQLite, then Redis), for modules whose `store` fixture is SQLite's alone."""
    opened = await open_and_start(store_url)
    yield opened
    await opened.close()
