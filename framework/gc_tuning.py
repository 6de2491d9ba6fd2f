"""The cyclic garbage collector set up for a long-running service: fewer young collections, none of start-up.

CPython collects its youngest generation every 700 net allocations of container objects. A service with 64
events in flight keeps thousands of such objects alive (requests, tasks, futures, events), so nearly every one
of those collections finds them all alive and promotes them, and the older generations fill and are traversed
in turn; every full collection also walks every module, class and function loaded at start-up. Measured on
the end-to-end benchmark that cost about 65 us of the event loop's time per event, against 23 us for the raw
aiohttp baseline (docs/PERFORMANCE.md). `[service] gc = "tuned"` (the default) raises the young generation's
threshold to YOUNG_THRESHOLD and, once the service has started, collects once and freezes what is alive then
(`gc.freeze()`), so later collections skip it. `"python"` leaves the interpreter's settings alone.

The price is memory: garbage in reference cycles waits for up to YOUNG_THRESHOLD allocations instead of 700
before it is freed (a few MB at most), and objects alive at start-up are never collected, which is what they
are for. Only the processes `chatwright` starts are tuned; a program that embeds a `Runtime` keeps its own.

`drop_generated_sources` is the other half of start-up's memory: attrs and cattrs put the source text of every
method they generate into `linecache`, line by line, for tracebacks. With the framework's, the adapters' and
the bots' classes loaded that is ~0.6 MB that a running service never reads. `chatwright run` drops it before
it reads the config and again before it builds the runtime, so that each stage's allocations reuse that memory;
dropped once start-up is over, it would stay in the process as free space. Benchmark 6 (docs/PERFORMANCE.md):
idle RSS -0.55 MB dropped once after the config, -0.7 MB dropped at both points.
"""

from __future__ import annotations

import gc
import linecache

from aiohttp import web

__all__ = [
    "GC_MODES",
    "YOUNG_THRESHOLD",
    "drop_generated_sources",
    "freeze_startup_objects",
    "tune_collector",
    "tune_collector_for",
]

GC_MODES = ("tuned", "python")
YOUNG_THRESHOLD = 10_000
"""Net container allocations between young-generation collections (CPython's default: 700)."""


def tune_collector(mode: str) -> None:
    """Before serving: fewer young-generation collections (the older generations keep their thresholds)."""
    if mode == "tuned":
        gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def freeze_startup_objects(mode: str) -> None:
    """Once started: free what start-up left as garbage, then keep everything alive out of later collections."""
    if mode == "tuned":
        gc.collect()
        gc.freeze()


def tune_collector_for(app: web.Application, mode: str) -> None:
    """Tune now, and freeze once `app` has started (after the handlers registered before this call)."""
    tune_collector(mode)

    async def freeze(_: web.Application) -> None:
        freeze_startup_objects(mode)

    app.on_startup.append(freeze)


def drop_generated_sources() -> None:
    """Empty `linecache`: mostly the sources attrs and cattrs keep of the methods they generated. A traceback
    through such a method then names its file and line without the text; files on disk are read again when
    a traceback needs them."""
    linecache.clearcache()
