"""The poller on both stores: the watch list and cursors are durable, every message is appended once, none is
skipped, the bot's own messages are dropped, one poll per interval whatever the number of replicas, and a
failing provider pauses the adapter's polls for every replica."""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest

from framework.chat_watch import ChatCursors, WatchedChats
from framework.events import Event
from framework.messages import MESSAGE_EVENT
from framework.store.base import DEFAULT_DEDUPE_TTL, AppendResult, Store
from framework.store.factory import open_store
from framework.store.sqlite import SQLiteStore
from framework.triggers.polling import POLL_EVENT, Poller, PollSettings
from tests.conversations.feeds import BOT, MemoryFeed
from tests.framework.store_fixtures import redis_url as redis_url
from tests.framework.store_fixtures import store as store
from tests.framework.store_fixtures import store_url as store_url
from tests.framework.store_fixtures import watch_fsyncs


def _poller(store: Store, feed: MemoryFeed, **settings: Any) -> Poller:
    return Poller(store, {feed.name: feed}, PollSettings(adapters=(feed.name,), **settings), store.append)


async def _delivered(store: Store) -> list[tuple[str, str]]:
    """(chat, text) of every chat.message in the inbox, in the order handed out (each acked as it comes)."""
    found: list[tuple[str, str]] = []
    while entries := await store.claim("reader", 1000, lease=30):
        for entry in entries:
            await store.ack(entry.event.id)
            if entry.event.type == MESSAGE_EVENT:
                found.append((entry.event.data["chat_id"], entry.event.data["text"]))
    return found


async def test_cursors_and_the_watch_list_survive_a_restart(store_url: str) -> None:
    first = open_store(store_url)
    await first.open()
    watched, cursors = WatchedChats(first), ChatCursors(first)
    assert await watched.watch("roosted", "c1", from_start=True)
    assert not await watched.watch("roosted", "c1", from_start=False)  # kept as it was
    await watched.watch("roosted", "c2", from_start=False)
    await watched.watch("pop", "c1", from_start=True)
    assert await cursors.get("roosted", "c1") is None  # never polled
    await cursors.set("roosted", "c1", "m42")
    await cursors.set("roosted", "c2", None)  # polled: nothing in it yet
    await first.close()

    again = open_store(store_url)
    await again.open()
    try:
        chats = await WatchedChats(again).chats("roosted")
        assert [(c.chat_id, c.from_start) for c in chats] == [("c1", True), ("c2", False)]
        assert (await ChatCursors(again).get("roosted", "c1")).value == "m42"  # type: ignore[union-attr]
        assert (await ChatCursors(again).get("roosted", "c2")).value is None  # type: ignore[union-attr]
        assert await WatchedChats(again).unwatch("roosted", "c1")
        assert await ChatCursors(again).get("roosted", "c1") is None
    finally:
        await again.close()


async def test_every_message_is_appended_once_in_order_and_the_bots_own_are_dropped(store: Store) -> None:
    feed = MemoryFeed()
    poller = _poller(store, feed)
    await poller.watched.watch("mem", "c1", from_start=True)
    feed.write("c1", "ada", "one")
    feed.write("c1", BOT, "my own")
    feed.write("c1", "ada", "two")

    report = await poller.poll("mem")
    feed.write("c1", "grace", "three")
    await poller.poll("mem")
    await poller.poll("mem")

    assert (report.delivered, report.own) == (2, 1)
    assert await _delivered(store) == [("c1", "one"), ("c1", "two"), ("c1", "three")]
    assert (await poller.cursors.get("mem", "c1")).value == "4"  # type: ignore[union-attr]


async def test_a_configured_chat_is_delivered_from_when_it_is_first_watched(store: Store) -> None:
    feed = MemoryFeed()
    feed.write("old", "ada", "history")
    poller = Poller(
        store, {"mem": feed}, PollSettings(adapters=("mem",), watch={"mem": ("old",)}), store.append
    )
    await poller.start(fire=False)
    await poller.poll("mem")
    feed.write("old", "ada", "new")
    await poller.poll("mem")
    assert await _delivered(store) == [("old", "new")]


async def test_a_cursor_lost_after_the_append_repeats_nothing_and_one_never_written_skips_nothing(
    store: Store,
) -> None:
    feed = MemoryFeed()
    feed.write("c1", "ada", "one")
    fail_appends = {"left": 1}

    def flaky_append(
        event: Event, *, ordering_key: str | None = None, dedupe_ttl: float = DEFAULT_DEDUPE_TTL
    ) -> Awaitable[AppendResult]:
        if fail_appends["left"]:
            fail_appends["left"] -= 1
            raise ConnectionError("the store went away")
        return store.append(event, ordering_key=ordering_key, dedupe_ttl=dedupe_ttl)

    poller = Poller(store, {"mem": feed}, PollSettings(adapters=("mem",)), flaky_append)
    await poller.watched.watch("mem", "c1", from_start=True)
    with pytest.raises(ConnectionError):
        await poller.poll("mem")
    assert await poller.cursors.get("mem", "c1") is None  # not moved past what is not in the inbox

    await poller.poll("mem")  # appended now, cursor moved
    await poller.cursors.set("mem", "c1", None)  # as if the process died between the append and the cursor
    await poller.poll("mem")  # polled again from the start: the inbox takes it for a duplicate
    assert await _delivered(store) == [("c1", "one")]


async def test_replicas_store_one_poll_per_interval(store: Store) -> None:
    feed = MemoryFeed()
    replicas = [_poller(store, feed, interval=5.0) for _ in range(3)]
    tick = replicas[0].tick(1_000_000.0)
    fired = [await replica.fire("mem", tick) for replica in replicas]
    fired += [await replica.fire("mem", tick + 1) for replica in replicas]
    assert fired == [True, False, False, True, False, False]
    polls = [e for e in await store.claim("w", 100, lease=30) if e.event.type == POLL_EVENT]
    assert [e.event.data["tick"] for e in polls] == [tick]  # one ordering key: the next waits its turn


async def test_a_failing_provider_pauses_the_adapters_polls_for_every_replica(store: Store) -> None:
    clock = {"now": 1_000.0}
    feed = MemoryFeed(fail=1)
    feed.write("c1", "ada", "one")
    replicas = [
        Poller(
            store,
            {"mem": feed},
            PollSettings(adapters=("mem",), interval=10.0),
            store.append,
            clock=lambda: clock["now"],
        )
        for _ in range(2)
    ]
    await replicas[0].watched.watch("mem", "c1", from_start=True)

    assert (await replicas[0].poll("mem")).paused
    polls = feed.polls
    assert (await replicas[1].poll("mem")).paused and feed.polls == polls  # the other replica waits too
    clock["now"] += 21.0  # past the first pause (10 to 20 s)
    report = await replicas[1].poll("mem")
    assert (report.paused, report.delivered) == (False, 1)


async def test_a_pass_that_runs_out_of_time_leaves_the_rest_first_for_the_next(store: Store) -> None:
    clock = {"now": 1_000.0}
    feed = MemoryFeed()
    for chat in ("a", "b", "c"):
        feed.write(chat, "ada", f"in {chat}")

    class SlowFeed(MemoryFeed):
        async def poll_messages(self, chat_id: str, cursor: str | None) -> Any:
            clock["now"] += 6.0  # each chat takes 6 s of a 10 s pass
            return await feed.poll_messages(chat_id, cursor)

    slow = SlowFeed(name="mem")
    settings = PollSettings(adapters=("mem",), concurrency=1, pass_limit=10.0)
    poller = Poller(store, {"mem": slow}, settings, store.append, clock=lambda: clock["now"])
    for chat in ("a", "b", "c"):
        await poller.watched.watch("mem", chat, from_start=True)

    first = await poller.poll("mem")  # a (6 s), b (12 s): past the limit, c waits
    second = await poller.poll("mem")  # c first, then a and b again
    assert (first.deferred, second.deferred) == (1, 1)
    assert await _delivered(store) == [("a", "in a"), ("b", "in b"), ("c", "in c")]


async def test_a_pass_that_finds_nothing_new_makes_no_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pass reads a cursor per watched chat; reads of what is fsynced already must not each wait for an fsync
    # (that made watching chats cost 1.4-1.5x the bare requests).
    store = SQLiteStore(f"sqlite:///{tmp_path / 'bot.db'}")
    await store.open()
    try:
        feed = MemoryFeed()
        poller = _poller(store, feed)
        for chat in range(20):
            await poller.watched.watch("mem", f"c{chat}", from_start=True)
            feed.write(f"c{chat}", "ada", "hello")
        assert (await poller.poll("mem")).delivered == 20
        _, fsyncs = watch_fsyncs(monkeypatch)
        assert (await poller.poll("mem")).delivered == 0
        assert fsyncs == []
        feed.write("c3", "grace", "news")
        assert (await poller.poll("mem")).delivered == 1
        assert fsyncs, "a pass that appends fsyncs what it appended"
    finally:
        await store.close()
