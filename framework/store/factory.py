"""Opening the store a config names: the one place that picks a Store implementation from its URL."""

from __future__ import annotations

from framework.errors import ConfigError
from framework.store.base import Store

__all__ = ["open_store"]


def open_store(url: str) -> Store:
    """The Store for a URL: `sqlite:///path.db` (embedded default) or `redis://host:port/db`."""
    if url.startswith("sqlite://"):
        from framework.store.sqlite import SQLiteStore

        return SQLiteStore(url)
    if url.startswith(("redis://", "rediss://")):
        try:
            from framework.store.redis import RedisStore
        except ImportError as error:
            raise ConfigError(
                f"store.url: {url!r} needs the redis extra: pip install 'chatwright[redis]' ({error})"
            ) from None
        return RedisStore(url)
    raise ConfigError(f"store.url: unsupported {url!r}; expected sqlite:///PATH or redis://HOST:PORT/DB")
