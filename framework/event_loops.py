"""The event loop the service runs on: uvloop when it is installed (a dependency where it builds), else asyncio's.

uvloop runs aiohttp's transports in C; on the ingest and end-to-end benchmarks it makes chatwright 5-30% faster
(docs/PERFORMANCE.md). `[service] event_loop` chooses: "auto" (the default), "uvloop" or "asyncio".
"""

from __future__ import annotations

import asyncio
import importlib.util

from framework.errors import ConfigError

__all__ = ["EVENT_LOOPS", "new_event_loop", "resolve_event_loop"]

EVENT_LOOPS = ("auto", "uvloop", "asyncio")


def resolve_event_loop(choice: str) -> str:
    """ "uvloop" or "asyncio": what `choice` means on this machine."""
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    if choice == "auto":
        return "uvloop" if has_uvloop else "asyncio"
    if choice == "uvloop" and not has_uvloop:
        raise ConfigError(
            "service.event_loop: 'uvloop' is not installed (chatwright depends on it on CPython outside Windows);"
            " pip install uvloop or choose 'auto'"
        )
    return choice


def new_event_loop(choice: str) -> asyncio.AbstractEventLoop:
    if resolve_event_loop(choice) == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()
