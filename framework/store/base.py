"""The Store interface: inbox (append, claim, ack, retry later, dead-letter, replay), dedupe keys, plugin state.

Every trigger appends to the inbox; the dispatcher claims from it. Event ids are the dedupe keys: appending an
event whose id was seen within `dedupe_ttl` is answered as a duplicate and stores nothing. Claims carry a lease;
a claim whose lease ran out (its worker died) is handed to another worker, sooner where the store can tell that
the worker died (SQLite: its process id on this host; Redis: its heartbeat). Events that share an `ordering_key`
are handed out one at a time, in the order they were appended.
"""

from __future__ import annotations

import abc
import os
import socket
from collections.abc import Awaitable
from datetime import datetime
from typing import Any, Protocol

import attrs

from framework.events import Event

__all__ = [
    "DEFAULT_DEDUPE_TTL",
    "DEFAULT_HISTORY_AGE",
    "DEFAULT_HISTORY_SIZE",
    "DEFAULT_STEP_TTL",
    "RELEASED",
    "Append",
    "AppendResult",
    "Claim",
    "DeadLetter",
    "Finished",
    "HistoryEntry",
    "HistoryQuery",
    "InboxEntry",
    "InboxStats",
    "RateLimiterLike",
    "Store",
    "worker_name",
]

DEFAULT_DEDUPE_TTL = 7 * 24 * 3600.0
"""How long an event id is remembered after it was appended (seconds)."""

DEFAULT_STEP_TTL = 7 * 24 * 3600.0
"""How long a step record is kept after it was written (seconds); never while its event is dead-lettered or
still in the inbox."""

DEFAULT_HISTORY_SIZE = 10_000
"""How many finished attempts the event history keeps (the newest)."""

DEFAULT_HISTORY_AGE = 7 * 24 * 3600.0
"""How long a finished attempt stays in the event history (seconds)."""

RELEASED = "released: the service stopped while the event was held"
"""The `last_error` a shutdown leaves on the events it gives back: their next delivery is a re-run."""


@attrs.frozen
class Claim:
    """Asks `append` to store the event already claimed by `worker` (leased for `lease` seconds).

    The worker then starts the event at once instead of claiming it from the inbox; should it die first, the
    claim is released like any other (when the store finds the worker dead, or the lease runs out).
    """

    worker: str
    lease: float


@attrs.frozen
class AppendResult:
    event_id: str
    duplicate: bool
    claimed: bool = False
    """The store honoured `append(claim=...)`: the event is in the inbox, claimed by that worker."""


@attrs.frozen
class InboxStats:
    """The inbox as every replica sharing the store sees it, for `/metrics`: `pending` events (ready, waiting for
    a retry, or claimed), the age in seconds of the oldest of them (0 when the inbox is empty), and how many
    dead letters are kept."""

    pending: int
    oldest_age: float
    dead_letters: int


class RateLimiterLike(Protocol):
    """What `Store.rate_limiter` returns: the `framework.http.Limiter` protocol (restated here so the store does
    not depend on the HTTP client)."""

    async def acquire(self) -> None: ...

    async def hold(self, seconds: float) -> None: ...


class Append(Protocol):
    """What stores a new event: `Store.append`, or `Worker.append`, which may hand it to a free handler slot at
    once (the webhook intake, `ctx.emit` and schedule fires of a running service go through the latter)."""

    def __call__(
        self, event: Event, *, ordering_key: str | None = ..., dedupe_ttl: float = ...
    ) -> Awaitable[AppendResult]: ...


@attrs.frozen
class InboxEntry:
    """An event claimed from the inbox; `attempt` counts this delivery (1 for the first)."""

    event: Event
    attempt: int
    ordering_key: str | None = None
    last_error: str | None = None
    interrupted: bool = False
    """Its previous delivery did not end normally: its worker died or its lease ran out (or the service stopped
    while it held it), so a step of it without a record may have been under way."""


@attrs.frozen
class DeadLetter:
    event: Event
    attempts: int
    error: str
    failed_at: datetime


@attrs.frozen
class Finished:
    """How the worker's attempt at an event ended, for the event history: `outcome` is `done`, `retry` or
    `dead`, `duration` the seconds its handlers took, `handlers` a JSON list of one object per handler
    (`{"handler": name, "outcome": "ok" | "skipped" | "failed", "error": ..., "traceback": ...}`)."""

    outcome: str
    duration: float
    handlers: bytes


@attrs.frozen
class HistoryEntry:
    """One finished attempt at an event, as the event history keeps it; `steps` are its step records (JSON)
    as they stood when the attempt ended."""

    event: Event
    attempt: int
    outcome: str
    handled_at: datetime
    duration: float
    handlers: list[dict[str, Any]]
    steps: dict[str, Any]


@attrs.frozen
class HistoryQuery:
    """What `Store.history` looks for: every field given must match (`event_id` and `type` exactly)."""

    event_id: str | None = None
    type: str | None = None
    outcome: str | None = None
    limit: int = 100


class Store(abc.ABC):
    """What the triggers, the dispatcher and the plugins' state need from storage."""

    url: str

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect and create what is missing."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and disconnect."""

    # -- inbox -------------------------------------------------------------------------------------------------

    @abc.abstractmethod
    async def append(
        self,
        event: Event,
        *,
        ordering_key: str | None = None,
        dedupe_ttl: float = DEFAULT_DEDUPE_TTL,
        claim: Claim | None = None,
    ) -> AppendResult:
        """Durably store the event (committed before this returns), unless its id was seen before.

        With `claim`, a store that can stores it already claimed (first attempt) and says so in `claimed`, unless
        an event with the same ordering key is still in the inbox (then it waits its turn behind it). A store that
        cannot claim at append stores it unclaimed as usual.
        """

    @abc.abstractmethod
    async def claim(self, worker: str, limit: int, lease: float) -> list[InboxEntry]:
        """Take up to `limit` ready events for `worker`, leased for `lease` seconds."""

    @abc.abstractmethod
    async def extend(self, worker: str, event_ids: list[str], lease: float) -> None:
        """Extend the lease of events still being handled."""

    @abc.abstractmethod
    async def ack(self, event_id: str, finished: Finished | None = None) -> None:
        """The event was handled: remove it from the inbox (its id stays remembered for dedupe). With
        `finished`, the attempt goes into the event history in the same write."""

    @abc.abstractmethod
    async def retry_later(
        self, event_id: str, delay: float, error: str, finished: Finished | None = None
    ) -> None:
        """Hand the event out again after `delay` seconds, with the attempt counter raised (and `finished` into
        the event history)."""

    @abc.abstractmethod
    async def dead_letter(self, event_id: str, error: str, finished: Finished | None = None) -> None:
        """Give up on the event: move it to the dead letters with its last error (and `finished` into the event
        history)."""

    @abc.abstractmethod
    async def release(self, worker: str) -> int:
        """Give back every event `worker` holds (at shutdown) without counting an attempt; returns how many."""

    @abc.abstractmethod
    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The most recent dead letters, newest first."""

    @abc.abstractmethod
    async def replay(self, event_id: str, *, fresh: bool = False) -> bool:
        """Put a dead letter back into the inbox with a fresh attempt count; False if no such dead letter.

        Its handlers continue from the steps recorded so far (its last error comes along, so its next delivery
        is known as a re-run); `fresh` discards those records first, so every step acts again.
        """

    @abc.abstractmethod
    async def discard(self, event_id: str) -> bool:
        """Delete a dead letter and its step records for good; False if there is no such dead letter."""

    # -- event history -----------------------------------------------------------------------------------------

    history_size: int = DEFAULT_HISTORY_SIZE
    """The newest finished attempts kept in the event history."""
    history_age: float = DEFAULT_HISTORY_AGE
    """Seconds a finished attempt is kept in the event history."""

    @abc.abstractmethod
    async def history(self, query: HistoryQuery) -> list[HistoryEntry]:
        """Finished attempts (acked, retried, dead-lettered with a `Finished`) that match, newest first; at most
        the newest `history_size`, none older than `history_age`."""

    @abc.abstractmethod
    async def pending(self) -> int:
        """How many events are in the inbox (ready, waiting for a retry, or claimed)."""

    @abc.abstractmethod
    async def inbox_stats(self) -> InboxStats:
        """`pending`, the oldest inbox event's age and the dead letters' count, in one cheap read. The age runs
        from when the event was received (`received_at`) on SQLite, from when it entered the inbox on Redis:
        the same but for a replayed dead letter, which Redis counts from its replay."""

    async def wait_for_work(self, timeout: float) -> None:
        """Return when new work may be ready, or after `timeout` seconds (stores that can, return sooner)."""
        import asyncio

        await asyncio.sleep(timeout)

    # -- rate limits -------------------------------------------------------------------------------------------

    def rate_limiter(self, name: str, rate: float, burst: int = 1) -> RateLimiterLike | None:
        """A limiter for adapter `name` that every process sharing this store paces against together: at most
        `rate` requests per second in all (`burst` back to back), and a `hold` seen by all. None when the store
        shares nothing across processes (each process then paces alone). The store must be open before the
        limiter's first `acquire`."""
        return None

    # -- steps -------------------------------------------------------------------------------------------------

    step_ttl: float = DEFAULT_STEP_TTL
    """Seconds a step record is kept after its last write (and after a replay)."""

    @abc.abstractmethod
    async def load_steps(self, event_id: str) -> dict[str, bytes]:
        """Every step record of an event: its key within the event -> the record (JSON)."""

    @abc.abstractmethod
    def record_step(self, event_id: str, key: str, record: bytes, ttl: float) -> Awaitable[None]:
        """Start writing a step record (replacing one with the same key) now; the awaitable says when it is
        stored. Not awaiting it at once lets the write share a commit with others (the event's ack)."""

    @abc.abstractmethod
    async def discard_steps(self, event_id: str) -> int:
        """Forget an event's step records; returns how many there were."""

    # -- plugin state ------------------------------------------------------------------------------------------

    @abc.abstractmethod
    async def state_get(self, namespace: str, key: str) -> Any:
        """The JSON value stored under (namespace, key), or None."""

    @abc.abstractmethod
    async def state_set(self, namespace: str, key: str, value: Any, ttl: float | None = None) -> None:
        """Store a JSON value, optionally expiring after `ttl` seconds."""

    @abc.abstractmethod
    async def state_delete(self, namespace: str, key: str) -> bool:
        """Remove a key; True if it existed."""

    @abc.abstractmethod
    async def state_keys(self, namespace: str, prefix: str = "") -> list[str]:
        """The keys of a namespace that start with `prefix`, sorted."""


def worker_name() -> str:
    """A worker id that other processes on this host can check for liveness: `host:pid:nonce`."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
