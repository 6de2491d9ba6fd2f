"""Polling: chats of providers that only list messages are read every interval, each new message appended as a
`chat.message` event.

Like a schedule fire, a poll is an event: every replica appends `chatwright.poll` for an adapter at each interval
boundary under an id derived from (adapter, tick), so the inbox keeps one per interval whatever the number of
replicas, and the poll events of one adapter are handled one at a time (their ordering key). Handling one reads
each watched chat after its cursor (framework.chat_watch), appends the messages - their ids derive from the
message ids, so one appended again after a crash is a duplicate and stores nothing - and only then moves the
cursor: no message is skipped and none is delivered twice. The adapter's rate limiter paces the requests; a
provider that fails or asks to slow down makes the adapter's polls pause, growing with each failure, a pause kept
in the store so that every replica keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from framework.chat_watch import ChatCursors, WatchedChat, WatchedChats
from framework.context import Context
from framework.errors import NotFound, ProviderError, RateLimited, Unsupported
from framework.events import Event, new_event
from framework.messages import Intake, MessageFeed, intake_of, is_own, message_event, message_ordering_key
from framework.plugins import Plugin
from framework.store.base import Append, Store

__all__ = [
    "POLL_EVENT",
    "POLL_PLUGIN",
    "PollCounters",
    "PollReport",
    "PollSettings",
    "Poller",
    "polled_adapters",
]

log = logging.getLogger("chatwright.polling")

POLL_EVENT = "chatwright.poll"
POLL_PLUGIN = "chatwright.polling"
PAUSE_NAMESPACE = "_chatwright.poll"
RESUME_NAMESPACE = "_chatwright.poll-resume"
MAX_PAUSE = 300.0
"""The longest pause after failed polls (seconds)."""


@attrs.frozen(kw_only=True)
class PollSettings:
    interval: float = 10.0
    concurrency: int = 4
    adapters: tuple[str, ...] = ()
    """The adapters polled."""
    watch: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    """Configured chats by adapter, watched from when first seen."""
    pass_limit: float | None = None
    """Seconds a pass may spend (well within the handler timeout); chats it did not reach come first next time."""


@attrs.define
class PollReport:
    """What one poll of an adapter did."""

    adapter: str
    chats: int = 0
    delivered: int = 0
    own: int = 0
    """Messages the adapter's own identity wrote (not delivered)."""
    failed: int = 0
    paused: bool = False
    deferred: int = 0
    """Chats left for the next pass (the pass ran out of its time); it starts with them."""


@attrs.define
class PollCounters:
    """What this process's polls did, per adapter (for `/metrics`)."""

    polls: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    """(adapter, "done" | "paused") -> polls."""
    messages: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    """(adapter, "delivered" | "own") -> messages found."""

    def add(self, report: PollReport) -> None:
        self.polls[report.adapter, "paused" if report.paused else "done"] += 1
        self.messages[report.adapter, "delivered"] += report.delivered
        self.messages[report.adapter, "own"] += report.own


class _Backoff(Exception):
    """The provider failed in a way that concerns every chat: stop this poll and pause."""

    def __init__(self, error: ProviderError | OSError) -> None:
        super().__init__(str(error))
        self.error = error


class Poller:
    """Fires one poll per interval per adapter and handles it (`plugin` is the handler, added by the runtime)."""

    def __init__(
        self,
        store: Store,
        providers: Mapping[str, Any],
        settings: PollSettings,
        append: Append,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.providers = providers
        self.settings = settings
        self.watched = WatchedChats(store)
        self.cursors = ChatCursors(store)
        self._append = append
        self._clock = clock
        self._rng = rng or random.Random()
        self._tasks: list[asyncio.Task[None]] = []
        self.counters = PollCounters()
        self.plugin = Plugin(POLL_PLUGIN)
        self.plugin.add_handler(POLL_EVENT, self._handle, name="poll")

    def feed(self, adapter: str) -> MessageFeed:
        provider = self.providers[adapter]
        inner = getattr(provider, "wrapped", provider)  # RecordingProvider: poll the adapter itself
        if not isinstance(inner, MessageFeed):
            raise Unsupported(adapter, "poll_messages", "the adapter cannot deliver messages")
        return inner

    async def start(self, *, fire: bool = True) -> None:
        """Watch the configured chats and (with `fire`) start firing polls."""
        for adapter in self.settings.adapters:
            for chat_id in self.settings.watch.get(adapter, ()):
                await self.watched.watch(adapter, chat_id, from_start=False)
        if fire:
            self._tasks = [
                asyncio.create_task(self._fire_loop(adapter), name=f"chatwright-poll-{adapter}")
                for adapter in self.settings.adapters
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def tick(self, now: float) -> int:
        return math.floor(now / self.settings.interval)

    async def fire(self, adapter: str, tick: int) -> bool:
        """Append the poll of `adapter` for interval `tick`; False when another replica did already."""
        event = new_event(
            POLL_EVENT,
            {"adapter": adapter, "tick": tick},
            id=f"{POLL_EVENT}:{adapter}:{tick}",
            source="poll",
        )
        result = await self._append(
            event, ordering_key=f"{POLL_EVENT}:{adapter}", dedupe_ttl=max(60.0, 10 * self.settings.interval)
        )
        return not result.duplicate

    async def _fire_loop(self, adapter: str) -> None:
        interval = self.settings.interval
        while True:
            now = self._clock()
            try:
                await self.fire(adapter, self.tick(now))
            except Exception:
                log.exception(
                    "the poll of adapter %s could not be stored; trying at the next interval", adapter
                )
            await asyncio.sleep((self.tick(now) + 1) * interval - now)

    async def _handle(self, event: Event, ctx: Context) -> None:
        adapter = event.data.get("adapter")
        tick = event.data.get("tick")
        if not isinstance(adapter, str) or adapter not in self.providers:
            log.warning("[%s] a poll of unknown adapter %r: ignored", event.id, adapter)
            return
        if isinstance(tick, int) and tick < self.tick(self._clock()) - 1:
            log.debug("[%s] a poll of %s more than an interval late: a newer one follows", event.id, adapter)
            return
        await self.poll(adapter)

    async def poll(self, adapter: str) -> PollReport:
        """Read every watched chat of `adapter` once and append what is new (the pause permitting)."""
        report = await self._poll(adapter)
        self.counters.add(report)
        return report

    async def _poll(self, adapter: str) -> PollReport:
        report = PollReport(adapter)
        pause = await self.store.state_get(PAUSE_NAMESPACE, adapter)
        if pause is not None and pause.get("until", 0) > self._clock():
            report.paused = True
            return report
        feed = self.feed(adapter)
        chats = await self.watched.chats(adapter)
        resume = await self.store.state_get(RESUME_NAMESPACE, adapter)
        first = next((i for i, chat in enumerate(chats) if chat.chat_id == resume), 0)
        chats = chats[first:] + chats[:first]
        report.chats = len(chats)
        limit = asyncio.Semaphore(self.settings.concurrency)
        until = None if self.settings.pass_limit is None else self._clock() + self.settings.pass_limit
        deferred: list[str] = []

        async def one(chat: WatchedChat) -> None:
            async with limit:
                if until is not None and self._clock() > until:
                    deferred.append(chat.chat_id)
                    return
                await self._poll_chat(feed, chat, report)

        try:
            await _gather_all(one(chat) for chat in chats)
        except _Backoff as backoff:
            await self._pause(adapter, pause, backoff.error)
            report.paused = True
            return report
        report.deferred = len(deferred)
        if deferred:
            log.warning(
                "adapter %s: a pass over %d chats ran out of its %g s; %d wait for the next",
                adapter,
                len(chats),
                self.settings.pass_limit,
                len(deferred),
            )
            await self.store.state_set(RESUME_NAMESPACE, adapter, deferred[0])
        elif resume is not None:
            await self.store.state_delete(RESUME_NAMESPACE, adapter)
        if pause is not None:
            await self.store.state_delete(PAUSE_NAMESPACE, adapter)
        return report

    async def _poll_chat(self, feed: MessageFeed, chat: WatchedChat, report: PollReport) -> None:
        adapter = chat.adapter
        try:
            cursor = await self.cursors.get(adapter, chat.chat_id)
            if cursor is None and not chat.from_start:
                await self.cursors.set(adapter, chat.chat_id, await feed.latest_cursor(chat.chat_id))
                return
            start = None if cursor is None else cursor.value
            polled = await feed.poll_messages(chat.chat_id, start)
        except NotFound:
            log.warning("adapter %s: chat %s is gone; no longer watched", adapter, chat.chat_id)
            await self.watched.unwatch(adapter, chat.chat_id)
            return
        except (RateLimited, OSError) as error:
            raise _Backoff(error) from error
        except ProviderError as error:
            if error.retryable:
                raise _Backoff(error) from error
            report.failed += 1
            log.warning("adapter %s: polling chat %s failed: %s", adapter, chat.chat_id, error)
            return
        for message in polled.messages:
            if is_own(feed, message):
                report.own += 1
                continue
            result = await self._append(
                message_event(message, source=f"poll:{adapter}"), ordering_key=message_ordering_key(message)
            )
            report.delivered += 0 if result.duplicate else 1
        if cursor is None or polled.cursor != cursor.value:
            await self.cursors.set(adapter, chat.chat_id, polled.cursor)

    async def _pause(
        self, adapter: str, pause: dict[str, Any] | None, error: ProviderError | OSError
    ) -> None:
        failures = (pause or {}).get("failures", 0) + 1
        ceiling = min(MAX_PAUSE, self.settings.interval * 2**failures)
        wait = self._rng.uniform(ceiling / 2, ceiling)
        retry_after = getattr(error, "retry_after", None)
        if retry_after:
            wait = max(wait, float(retry_after))
        log.warning(
            "adapter %s: polling paused for %.0f s after %d failed poll(s): %s",
            adapter,
            wait,
            failures,
            error,
        )
        await self.store.state_set(
            PAUSE_NAMESPACE, adapter, {"failures": failures, "until": self._clock() + wait}, ttl=MAX_PAUSE * 2
        )


async def _gather_all(calls: Any) -> None:
    """Run every call; when one raises, the others still finish (their cursors are written), then it is raised."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def polled_adapters(
    providers: Mapping[str, Any], pushed: Sequence[str], chosen: Sequence[str] | None
) -> tuple[str, ...]:
    """The adapters to poll: those chosen (`[conversations] poll`), else every one that can poll and is not pushed."""
    if chosen is not None:
        return tuple(chosen)
    return tuple(
        name
        for name, provider in providers.items()
        if Intake.POLL in intake_of(getattr(provider, "wrapped", provider)) and name not in pushed
    )
