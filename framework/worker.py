"""The inbox worker: claims events from the store, dispatches them, and acks, retries or dead-letters each one.

Concurrency is bounded globally; events sharing an ordering key are handed out one at a time by the store.
Claims are batched and pipelined, so a busy inbox costs one claim per many events and no handler waits for a
commit: the worker keeps up to `prefetch` claimed events ready beyond the `concurrency` it runs, starts the next
one as soon as a handler returns (its ack then goes to the store in the same commit as the next claim), and
claims again once a quarter of that room is free, or CLAIM_DELAY after the first of it was.
Events appended through `Worker.append` (the webhook intake, `ctx.emit` and schedule fires) skip the inbox round
trip when they can: if a handler slot is free, nothing older waits in the inbox and no event with the same
ordering key is still there, the store appends the event already claimed by this worker, in the same commit,
and the worker starts it at once (see `append`).
Webhooks come through `Worker.intake`, which paces their senders to the handlers: while `webhook_backlog` or more
events this worker appended wait in the inbox, a new webhook's append (and so its 202) waits until a claim has
taken the backlog below that, MAX_WEBHOOK_HOLD seconds at most. A sender that waits for each answer before its
next delivery (most do, per endpoint) then keeps the inbox short, and its events reach their handlers within tens
of milliseconds instead of queueing behind everything it sent ahead; the service does the same work either way.
Handler slots are shared fairly between plugins (framework.fair_share): a plugin holding `max_share` of them or more
gives the next free slot to another plugin's waiting event, and the worker claims past the events of such a plugin
(up to LOOKAHEAD times `concurrency` of them), so an event queued in the inbox behind a flood is found and started.
A handler that raises is retried with exponential backoff and full jitter, up to `attempts` deliveries, then the
event is dead-lettered with its error. Errors the provider marked as not retryable (a bad request, an
unsupported operation) and events a handler found malformed (`InvalidEvent`) are dead-lettered at once:
trying again cannot help.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Awaitable, Callable

import attrs

from framework import scope
from framework.dispatch import Dispatcher, DispatchOutcome
from framework.errors import ConfigError, InvalidEvent, ProviderError
from framework.event_history import HistoryNotes
from framework.events import Event
from framework.fair_share import FairQueue
from framework.retries import HandlerRetry
from framework.steps import Delivery
from framework.store.base import (
    DEFAULT_DEDUPE_TTL,
    RELEASED,
    AppendResult,
    Claim,
    InboxEntry,
    Store,
    worker_name,
)

__all__ = ["Disposition", "Worker"]

log = logging.getLogger("chatwright.worker")

CANCEL_GRACE = 5.0
"""Seconds `drain` waits for cancelled handlers to stop before it gives their events back regardless."""

CLAIM_DELAY = 0.005
"""Seconds the worker may wait for more room to free before it claims for the little that is."""

MAX_WEBHOOK_HOLD = 1.0
"""Seconds a webhook waits at most for the backlog to fall below `webhook_backlog` before it is appended anyway: a
backlog that does not fall (handlers slower than the senders, or events claimed elsewhere) delays each answer by
this much and never refuses one; senders' timeouts are 5 s and more."""

HANDLER_TASK = "chatwright-handler"
"""The name of each event's handling task."""

LOOKAHEAD = 16
"""Events of plugins over their share a worker holds claimed beyond its usual room, at most, in `concurrency`s."""


@attrs.frozen
class Disposition:
    """What the worker did with an event after dispatching it: `done`, `retry` or `dead`."""

    outcome: DispatchOutcome
    action: str
    delay: float = 0.0


OutcomeListener = Callable[[Disposition], None]


def _delivery(entry: InboxEntry) -> Delivery:
    """What the step journal may assume of an event's earlier attempts.

    A first delivery (attempt 1, no last error) had none. Attempts that ended normally (retried, dead-lettered
    and replayed) waited for their step records, so those are complete. An attempt that was interrupted - its
    worker died, its lease ran out, the service stopped under it - may have been inside a step it never recorded.
    """
    if entry.interrupted or entry.last_error == RELEASED:
        return Delivery.RESUMED
    if entry.attempt > 1 or entry.last_error is not None:
        return Delivery.RETRY
    return Delivery.FIRST


def _is_permanent(error: BaseException) -> bool:
    if isinstance(error, ProviderError):
        return not error.retryable
    return isinstance(error, ConfigError | InvalidEvent)


class Worker:
    """Runs until `stop()`; `drain()` then waits for in-flight events for a bounded time."""

    def __init__(
        self,
        store: Store,
        dispatcher: Dispatcher,
        *,
        concurrency: int = 64,
        lease: float = 60.0,
        retry: HandlerRetry | None = None,
        poll_interval: float = 0.5,
        listeners: list[OutcomeListener] | None = None,
        rng: random.Random | None = None,
        prefetch: int | None = None,
        max_share: float = 0.5,
        webhook_backlog: int | None = None,
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.concurrency = concurrency
        self.lease = lease
        self.retry = retry or HandlerRetry()
        self.poll_interval = poll_interval
        self.listeners = list(listeners or [])
        self.name = worker_name()
        self._rng = rng or random.Random()
        self._history = HistoryNotes(store)
        self._in_flight: dict[str, asyncio.Task[None] | None] = {}
        """Events claimed and not yet acked, retried or dead-lettered: their task, or None while ready."""
        self._ready = FairQueue(
            max(1, int(concurrency * max_share)),
            lambda event_type: tuple(h.plugin for h in dispatcher.handlers_for(event_type)),
        )
        # One plugin has nobody to be fair to: claiming past its events would only hoard them from other replicas.
        plugins = {handler.plugin for handler in dispatcher.handlers}
        self._lookahead = LOOKAHEAD * concurrency if len(plugins) > 1 and max_share < 1 else 0
        self._running = 0
        """Handlers running: what `concurrency` bounds (an event being acked holds no slot)."""
        self.prefetch = concurrency // 2 if prefetch is None else prefetch
        self._claim_at = max(1, (concurrency + self.prefetch) // 4)
        self._stopping = asyncio.Event()
        self._slot_free = asyncio.Event()
        self.handled = 0
        self.handed_over = 0
        """Events started straight from `append`, without a claim from the inbox."""
        self._claim = Claim(self.name, lease)
        self._claiming = False
        """`run()` is under way: only then are appended events handed over."""
        self._reserved = 0
        """Handler slots promised to appends still being committed."""
        self._inbox_clear = False
        """The last claim found nothing more ready, and no append has gone to the inbox unclaimed since: only
        then is an append handed over, so fresh events do not pass the ones waiting in the inbox."""
        self.webhook_backlog = concurrency if webhook_backlog is None else webhook_backlog
        """Events appended here waiting in the inbox past which `intake` holds new webhooks (0: never)."""
        self._backlog = 0
        """Events appended here unclaimed since a claim last found the inbox clear, less those claims took since
        (claims also take other producers' events: an estimate, reset whenever the inbox is found clear)."""
        self._backlog_low = asyncio.Event()
        self._backlog_low.set()
        self.held = 0
        """Webhooks whose append waited for the backlog."""

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def append(
        self, event: Event, *, ordering_key: str | None = None, dedupe_ttl: float = DEFAULT_DEDUPE_TTL
    ) -> AppendResult:
        """Append `event` to the inbox, and start it here at once when this worker can take it now.

        That is when `run()` is under way, a handler slot is free and nothing older waits in the inbox: the store
        then commits it already claimed by this worker (lease and all, so a crash leaves it to the store's
        dead-worker check or the lease like any claim), which saves the claim's query and commit and the wait for
        the next claim. The store stores it unclaimed instead when an event with the same ordering key is still in
        the inbox (it waits its turn; nothing is passed, as it is not ready), or when it cannot claim at append.
        """
        claim = self._reserve()
        if claim is None:
            result = await self.store.append(event, ordering_key=ordering_key, dedupe_ttl=dedupe_ttl)
        else:
            try:
                result = await self.store.append(
                    event, ordering_key=ordering_key, dedupe_ttl=dedupe_ttl, claim=claim
                )
            finally:
                self._reserved -= 1
        if result.claimed:
            self.handed_over += 1
            self._take([InboxEntry(event=event, attempt=1, ordering_key=ordering_key)])
        elif (
            not result.duplicate
        ):  # in the inbox unclaimed (no slot, or behind an event with its ordering key)
            self._set_backlog(self._backlog + 1)
        return result

    def _set_backlog(self, backlog: int) -> None:
        """Note this worker's backlog in the inbox; `intake` holds webhooks while it is at `webhook_backlog`."""
        self._backlog = backlog
        if self.webhook_backlog and backlog >= self.webhook_backlog:
            self._backlog_low.clear()
        else:
            self._backlog_low.set()

    async def intake(
        self, event: Event, *, ordering_key: str | None = None, dedupe_ttl: float = DEFAULT_DEDUPE_TTL
    ) -> AppendResult:
        """`append` for a webhook: first wait (MAX_WEBHOOK_HOLD seconds at most) while this worker's backlog in
        the inbox is at `webhook_backlog` or more, so a sender waiting for each answer is paced to the handlers."""
        if not self._backlog_low.is_set() and self._claiming:
            self.held += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(MAX_WEBHOOK_HOLD):
                    await self._backlog_low.wait()
        return await self.append(event, ordering_key=ordering_key, dedupe_ttl=dedupe_ttl)

    def _reserve(self) -> Claim | None:
        """The claim for an append this worker can start at once (a slot is promised to it), or None."""
        if not self._claiming or self._stopping.is_set():
            return None
        if self._inbox_clear and self._running + len(self._ready) + self._reserved < self.concurrency:
            self._reserved += 1
            return self._claim
        # This event goes to the inbox unclaimed: later ones must not pass it, until a claim has taken it.
        self._inbox_clear = False
        return None

    async def run(self) -> None:
        """Claim and handle events until `stop()` is called."""
        renewer = asyncio.create_task(self._renew_leases(), name="chatwright-lease-renewer")
        loop = asyncio.get_running_loop()
        claim_by = 0.0
        self._claiming = True
        try:
            while not self._stopping.is_set():
                room = self.concurrency + self.prefetch - self._running - len(self._ready) - self._reserved
                if self._lookahead:
                    room += min(self._ready.parked(), self._lookahead)
                if room <= 0:
                    await self._wait_for_slot(None)
                    continue
                if room < self._claim_at and (self._running or self._ready):
                    claim_by = claim_by or loop.time() + CLAIM_DELAY
                    if loop.time() < claim_by:
                        await self._wait_for_slot(claim_by - loop.time())
                        continue
                claim_by = 0.0
                entries = await self.store.claim(self.name, room, self.lease)
                # An append that went to the inbox unclaimed while this claim was under way may have missed it;
                # a fresh event may then start before it, by at most the time of the next claim (which it woke).
                self._inbox_clear = len(entries) < room
                self._set_backlog(0 if self._inbox_clear else max(0, self._backlog - len(entries)))
                if not entries:
                    await self._wait_any(self.store.wait_for_work(self.poll_interval))
                    continue
                self._take(entries)
                # Let the handlers just started take their first step before the room is measured again: ones
                # that finish at once free their slots, and the next claim is one large batch instead of a small
                # one now. Without it the claim sizes could lock into a pattern of small and large (65/31 of
                # 96 on Redis with a no-op handler), each claim a round trip.
                await asyncio.sleep(0)
        finally:
            self._claiming = False
            self._backlog_low.set()  # nothing claims any more: holding a webhook would only delay its answer
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer

    def stop(self) -> None:
        """Stop claiming new events (in-flight ones go on)."""
        self._stopping.set()
        self._slot_free.set()

    def _take(self, entries: list[InboxEntry]) -> None:
        """Hold events claimed for this worker (from a claim or at append) and start them while slots are free."""
        for entry in entries:
            self._in_flight[entry.event.id] = None
            self._ready.push(entry)
        self._start_ready()

    def _start_ready(self) -> None:
        """Start claimed events while slots are free (not after `stop()`: those go back to the inbox)."""
        while self._ready and self._running < self.concurrency and not self._stopping.is_set():
            lane, entry = self._ready.pop()
            self._running += 1
            # named: an unnamed task formats a "Task-<n>" name of its own, for every event
            task = asyncio.create_task(self._handle(entry, lane), name=HANDLER_TASK)
            self._in_flight[entry.event.id] = task
            task.add_done_callback(functools.partial(self._finished, entry.event.id))

    async def _wait_for_slot(self, timeout: float | None) -> None:
        """Until a handler returns (or `stop()`), at most `timeout` seconds."""
        self._slot_free.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._slot_free.wait()

    async def drain(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for in-flight events; give the rest back to the inbox. Returns how many."""
        tasks = [task for task in self._in_flight.values() if task is not None]
        if tasks:
            # run() stopped renewing with its loop: keep the leases of what still runs, or another worker takes
            # it over mid-drain when the drain outlasts what is left of a lease
            renewer = asyncio.create_task(self._renew_leases(), name="chatwright-lease-renewer-drain")
            try:
                await asyncio.wait(tasks, timeout=timeout)
            finally:
                renewer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewer
        unfinished = [task for task in self._in_flight.values() if task is not None and not task.done()]
        for task in unfinished:
            task.cancel()
        if unfinished:
            _, stuck = await asyncio.wait(unfinished, timeout=CANCEL_GRACE)
            if stuck:
                # a handler that swallows its cancellation: its event is given back below all the same
                log.error(
                    "%d handler(s) did not stop within %g s of being cancelled", len(stuck), CANCEL_GRACE
                )
        released = await self.store.release(self.name)
        if released:
            log.warning("left %d unfinished event(s) in the inbox for the next start", released)
        return released

    async def _wait_any(self, awaitable: Awaitable[object]) -> None:
        waiter = asyncio.ensure_future(awaitable)
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (waiter, stopper):
                if not future.done():
                    future.cancel()

    def _finished(self, event_id: str, task: asyncio.Task[None] | None = None) -> None:
        self._in_flight.pop(event_id, None)
        if task is not None and not task.cancelled() and task.exception() is not None:
            # the store failed to ack, retry or dead-letter it: it stays claimed, and its lease hands it out again
            log.error("[%s] could not be finished: the inbox keeps it", event_id, exc_info=task.exception())

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            if self._in_flight:
                try:
                    await self.store.extend(self.name, list(self._in_flight), self.lease)
                except Exception:
                    log.exception("could not extend leases")

    async def _handle(self, entry: InboxEntry, lane: str) -> None:
        event = entry.event
        # this task's own: its log lines and provider calls carry the event (not what the task starting it had)
        scope.bind(scope.Scope(event.id, event.trace_id, attempt=event.attempt))
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            outcome = await self.dispatcher.dispatch(event, delivery=_delivery(entry))
        finally:
            self._running -= 1
            self._ready.finished(lane)
            self._start_ready()
            self._slot_free.set()
        duration = loop.time() - started
        if outcome.ok:
            finished = self._history.finished(outcome, "done", duration)
            if outcome.writes:
                # The records of its handlers' earlier steps, already under way (on SQLite usually in the ack's
                # commit); the ack then removes them with the event (after copying them to its history).
                await self._settle(event, outcome.writes, self.store.ack(event.id, finished))
            else:
                await self.store.ack(event.id, finished)
            disposition = Disposition(outcome=outcome, action="done")
        else:
            if outcome.writes:
                # Recorded before the event can be claimed again, so its next attempt finds them.
                await self._settle(event, outcome.writes)
            error_text = "; ".join(
                f"{failure.handler}: {type(failure.error).__name__}: {failure.error}"
                for failure in outcome.failures
            )
            permanent = all(_is_permanent(failure.error) for failure in outcome.failures)
            if permanent or entry.attempt >= self.retry.attempts:
                reason = "not retryable" if permanent else f"gave up after {entry.attempt} attempt(s)"
                log.error(
                    "[%s] dead-lettered (%s): %s",
                    event.id,
                    reason,
                    error_text,
                    exc_info=outcome.failures[0].error,
                )
                finished = self._history.finished(outcome, "dead", duration)
                await self.store.dead_letter(event.id, f"{error_text} ({reason})", finished)
                disposition = Disposition(outcome=outcome, action="dead")
            else:
                delay = self.retry.delay(entry.attempt, self._rng)
                asked = max(
                    (getattr(f.error, "retry_after", None) or 0.0 for f in outcome.failures), default=0.0
                )
                # capped as the HTTP client caps it: a provider asking for a day does not park the event for one
                delay = max(delay, min(asked, self.retry.max_delay))
                log.info("[%s] retry %d in %.2f s: %s", event.id, entry.attempt + 1, delay, error_text)
                finished = self._history.finished(outcome, "retry", duration)
                await self.store.retry_later(event.id, delay, error_text, finished)
                disposition = Disposition(outcome=outcome, action="retry", delay=delay)
        self.handled += 1
        for listener in self.listeners:
            listener(disposition)

    @staticmethod
    async def _settle(
        event: Event, writes: tuple[Awaitable[None], ...], ack: Awaitable[None] | None = None
    ) -> None:
        """Wait for the step records (and the ack, raising its error). They are under way already (on SQLite in
        the ack's commit, usually), so they are awaited in turn, without a task each. A record that could not be
        written leaves its step in doubt, which the next attempt reconciles: its error is logged, not raised."""
        for write in writes:
            try:
                await write
            except Exception as error:
                log.warning(
                    "[%s] a step record was not written: %s: %s", event.id, type(error).__name__, error
                )
        if ack is not None:
            await ack
