"""The worker's claimed events waiting for a handler slot, kept per lane so that one busy plugin cannot starve others.

An event's lane is the set of plugins whose handlers match its type. A lane holding `cap` handler slots or more
(`[service] max_share` of `concurrency`) is over its share: when a slot frees, the oldest waiting event of a lane
under its share starts first, and only when every waiting lane is over its share does the oldest event overall
start. So a plugin alone on the replica still gets every slot, and another plugin's event takes the next slot
that frees, however many of the busy plugin's events wait before it. Events of a lane over its share are
"parked": the worker claims past them (up to a bound), so an event behind a flood in the inbox is found.
With one lane (a bot whose events all go to one plugin) it is a plain FIFO queue.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from framework.store.base import InboxEntry

__all__ = ["FairQueue"]

MAX_CACHED_TYPES = 1024
"""Event types whose lane the queue remembers at most (types can come from webhook senders)."""


class FairQueue:
    """Claimed events not yet started, oldest first within each lane; `pop` picks the next one to start."""

    def __init__(self, cap: int, plugins_for_type: Callable[[str], tuple[str, ...]]) -> None:
        self.cap = cap
        self._plugins_for_type = plugins_for_type
        self._lanes: dict[str, deque[tuple[int, InboxEntry]]] = {}
        self._running: dict[str, int] = {}
        self._lane_by_type: dict[str, str] = {}
        self._seq = 0
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[InboxEntry]:
        for queue in self._lanes.values():
            for _, entry in queue:
                yield entry

    def lane(self, event_type: str) -> str:
        lane = self._lane_by_type.get(event_type)
        if lane is None:
            lane = "+".join(sorted(set(self._plugins_for_type(event_type))))
            if len(self._lane_by_type) >= MAX_CACHED_TYPES:
                self._lane_by_type.clear()
            self._lane_by_type[event_type] = lane
        return lane

    def push(self, entry: InboxEntry) -> None:
        lane = self.lane(entry.event.type)
        queue = self._lanes.get(lane)
        if queue is None:
            queue = self._lanes[lane] = deque()
        queue.append((self._seq, entry))
        self._seq += 1
        self._len += 1

    def pop(self) -> tuple[str, InboxEntry]:
        """The next event to start and its lane, now counted as running (call `finished` when it ends)."""
        best: str | None = None
        best_seq = 0
        best_under = False
        for lane, queue in self._lanes.items():
            if not queue:
                continue
            under = self._running.get(lane, 0) < self.cap
            seq = queue[0][0]
            if best is None or (under and not best_under) or (under == best_under and seq < best_seq):
                best, best_seq, best_under = lane, seq, under
        if best is None:
            raise IndexError("pop from an empty FairQueue")
        _, entry = self._lanes[best].popleft()
        self._len -= 1
        self._running[best] = self._running.get(best, 0) + 1
        return best, entry

    def finished(self, lane: str) -> None:
        self._running[lane] -= 1
        if not self._running[lane] and not self._lanes.get(lane):
            # lanes come and go with event types: keep only those in use
            del self._running[lane]
            self._lanes.pop(lane, None)

    def parked(self) -> int:
        """Events waiting in lanes that hold their share of slots or more."""
        return sum(
            len(queue) for lane, queue in self._lanes.items() if self._running.get(lane, 0) >= self.cap
        )
