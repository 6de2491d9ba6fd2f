"""Store URLs: what a `sqlite://` or `redis://` URL says (a file path; a connection URL and a key prefix).

Parsed here, apart from the stores, so that what shares a store's location (the schedules' job stores, the CLI)
reads it without importing a store.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from framework.errors import ConfigError

__all__ = ["DEFAULT_PREFIX", "redis_settings", "sqlite_path"]

DEFAULT_PREFIX = "chatwright"
"""The key prefix of a Redis store whose URL sets no `?prefix=`."""
_PREFIX_PATTERN = re.compile(r"[A-Za-z0-9_.:-]+")


def sqlite_path(url: str) -> str:
    """The file path of a `sqlite:///relative.db` or `sqlite:////absolute.db` URL (`sqlite://:memory:` too)."""
    if not url.startswith("sqlite://"):
        raise ConfigError(f"store.url: {url!r} is not a sqlite:// URL")
    rest = url[len("sqlite://") :]
    if rest in (":memory:", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/"):
        raise ConfigError(f"store.url: {url!r}: expected sqlite:///path/to/file.db")
    return rest[1:]


def redis_settings(url: str) -> tuple[str, str]:
    """Split a store URL into the URL redis-py connects to and the key prefix (`?prefix=`, default chatwright)."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigError(f"store.url: {url!r} is not a redis:// or rediss:// URL")
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefixes = [value for name, value in query if name == "prefix"]
    prefix = prefixes[-1] if prefixes else DEFAULT_PREFIX
    if not _PREFIX_PATTERN.fullmatch(prefix):
        raise ConfigError(
            f"store.url: prefix {prefix!r}: use letters, digits and _ . : - only, e.g. ?prefix=chatwright"
        )
    rest = urlencode([(name, value) for name, value in query if name != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix
