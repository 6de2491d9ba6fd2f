"""The README's welcome bot under the failures of issue 15's table, in real processes (`chatwright run`, `kill -9`,
`chatwright replay`) against the RoostedHR emulator: each scenario counts, at the provider, the chats and the
messages every event ended with. tests/framework/test_steps_process.py asserts on them (steps on and off);
tests/benchmarks/exactly_once.py prints them.

Event n is a member named `Member 000n` joining; the bot makes the chat "Welcome Member 000n" and posts
"Welcome aboard, Member 000n!" in it, so each chat and message at the provider names its event.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from adapters.roostedhr.emulator_state import RoostedState
from framework.testing.waiting import wait_until
from tests.conftest import tutorial_files
from tests.framework.process_helpers import RoostedEmulator, Service, Services, chatwright, send_webhooks

__all__ = [
    "Outcome",
    "Tally",
    "dead_letter_then_replay",
    "flaky_provider",
    "kill_a_replica",
    "kill_sqlite_and_restart",
    "late_create",
    "retried_post",
]

HOOK = "/hooks/members"
TOKEN = "let-me-in"
MEMBER = "120915"
"""A worker the emulator knows: every new member's chat is made with them."""

SETTLE = 60.0
"""Seconds a scenario waits at most for its events to be finished."""

LATENCY = 0.2
"""Seconds the provider takes per call in the kill scenarios, so that calls are in flight when the kill comes."""

CALLS = ("create_chat", "post_message")


def name(n: int) -> str:
    return f"Member {n:04d}"


def webhook(n: int) -> dict[str, Any]:
    return {"id": f"m-{n:04d}", "name": name(n), "worker_id": MEMBER}


@attrs.frozen
class Tally:
    """Chats and messages each event ended with at the provider, by event number."""

    chats: tuple[int, ...]
    messages: tuple[int, ...]

    @classmethod
    def of(cls, state: RoostedState, events: int) -> Tally:
        chats: Counter[str] = Counter()
        messages: Counter[str] = Counter()
        for chat in state.chats.values():
            chats[chat.name] += 1
            messages.update(message.text for message in chat.messages)
        return cls(
            chats=tuple(chats[f"Welcome {name(n)}"] for n in range(events)),
            messages=tuple(messages[f"Welcome aboard, {name(n)}!"] for n in range(events)),
        )

    @property
    def exactly_once(self) -> bool:
        return set(self.chats) == set(self.messages) == {1}

    @property
    def duplicated(self) -> int:
        """Events with more than one chat or more than one message."""
        return sum(
            chats > 1 or messages > 1 for chats, messages in zip(self.chats, self.messages, strict=True)
        )

    def describe(self, what: str) -> str:
        """`150 events: 148 with 1 chat; 2 with 2` for what = "chat" (or "message")."""
        counts = Counter(self.chats if what == "chat" else self.messages)
        shown = sorted({1, 2} | set(counts))
        noun = f" {what}" + ("" if shown[0] == 1 else "s")
        parts = [f"{counts[k]} with {k}" + (noun if i == 0 else "") for i, k in enumerate(shown)]
        return f"{len(self.chats)} events: " + "; ".join(parts)

    def __str__(self) -> str:
        return f"chats {self.describe('chat')}; messages {self.describe('message')}"


@attrs.frozen(kw_only=True)
class Outcome:
    """What a scenario ended with, and the facts that show it tested what it says."""

    tally: Tally
    steps: Mapping[str, float] = attrs.field(factory=dict)
    """`chatwright_steps_total` by outcome (replayed, reconciled, ...), over the services alive at the end."""
    unanswered: Mapping[str, int] = attrs.field(factory=dict)
    """Calls the provider carried out after their caller went away (killed, or timed out), by operation
    (create_chat, post_message): each was a step in doubt."""
    finished_after: float = 0.0
    """Seconds from the kill until every event was finished."""
    dead_lettered: int = 0


# -- the bot -----------------------------------------------------------------------------------------------------


def write_bot(
    directory: Path,
    *,
    store: str,
    emulator: RoostedEmulator,
    steps: bool,
    timeout: float = 5.0,
    attempts: int = 5,
) -> Path:
    """The README's plugin (mybot/plugin.py) with a config for this scenario; returns the config's path. The
    adapter calls the emulator through its first door, or the door in `$EMULATOR_DOOR` (one service's own)."""
    plugin = directory / "mybot" / "plugin.py"
    plugin.parent.mkdir(parents=True, exist_ok=True)
    plugin.write_text(tutorial_files()["mybot/plugin.py"])
    config = directory / "bot.toml"
    config.write_text(
        f"[service]\ndrain_timeout = 1\npoll_interval = 0.05\nsteps = {str(steps).lower()}\n"
        f'[store]\nurl = "{store}"\n'
        f"[retry]\nattempts = {attempts}\nbase_delay = 0.05\nmax_delay = 0.2\n"
        '[adapters.roosted]\nprovider = "roostedhr"\n'
        f'base_url = "${{EMULATOR_DOOR:-{emulator.base_url}}}"\ntimeout = {timeout}\n'
        'api_key = "test-key"\nworker_id = "3158"\n'
        f'[[webhooks]]\npath = "{HOOK}"\nevent = "member.joined"\nid_field = "id"\n'
        f'verify = {{ scheme = "bearer", tokens = ["{TOKEN}"] }}\n'
        '[plugins]\nmodules = ["mybot.plugin"]\nentry_points = false\n'
    )
    return config


# -- waiting -----------------------------------------------------------------------------------------------------


def posted(emulator: RoostedEmulator, events: int) -> bool:
    """Every event has its message (so its handler got to the end at least once)."""
    return all(Tally.of(emulator.state, events).messages)


async def finished(emulator: RoostedEmulator, services: Sequence[Service], events: int) -> None:
    """Until every event has its message, the provider answers nothing, and the inbox and the services are idle."""

    async def done() -> bool:
        if not (posted(emulator, events) and emulator.quiet()):
            return False
        return all([await service.idle() for service in services])

    await wait_until(done, timeout=SETTLE, interval=0.05)


async def outcome(
    emulator: RoostedEmulator, services: Sequence[Service], events: int, **facts: Any
) -> Outcome:
    """What the provider holds for each event, and what the services' step journals did (by outcome, summed)."""
    steps: Counter[str] = Counter()
    for service in services:
        for sample, value in (await service.metrics()).items():
            if sample.startswith("chatwright_steps_total{"):
                steps[sample.split('"')[1]] += int(value)
    return Outcome(
        tally=Tally.of(emulator.state, events),
        steps=dict(steps),
        unanswered=dict(emulator.unanswered),
        **facts,
    )


# -- one event at a time: a scripted failure each ---------------------------------------------------------------


async def _one_at_a_time(
    directory: Path,
    store: str,
    *,
    steps: bool,
    events: int,
    answer: Mapping[str, Any],
    timeout: float = 5.0,
    attempts: int = 5,
    after: Callable[[Path, Service], Awaitable[int]] | None = None,
) -> Outcome:
    """Each event alone: `answer` is scripted for it, its webhook sent, and the service let go idle (or, with
    `after`, until it is dead-lettered, then `after` runs)."""
    async with RoostedEmulator() as emulator:
        config = write_bot(
            directory, store=store, emulator=emulator, steps=steps, timeout=timeout, attempts=attempts
        )
        async with Services(config) as services:
            service = await services.start()
            for n in range(events):
                await emulator.admin("script", answer)
                assert await send_webhooks(HOOK, TOKEN, [webhook(n)], [service.port]) == []

                async def handled(n: int = n) -> bool:
                    if after is not None:
                        dead = (await service.metrics())['chatwright_events_total{action="dead"}']
                        return dead == n + 1 and emulator.quiet() and await service.idle()
                    return posted(emulator, n + 1) and emulator.quiet() and await service.idle()

                await wait_until(handled, timeout=SETTLE, interval=0.02)
            dead_lettered = 0 if after is None else await after(config, service)
            await finished(emulator, [service], events)
            return await outcome(emulator, [service], events, dead_lettered=dead_lettered)


async def retried_post(directory: Path, store: str, *, steps: bool, events: int = 2) -> Outcome:
    """The post answers 500 twice: the handler runs three times."""
    answer = {"status": 500, "method": "POST", "path": "*/messages", "times": 2}
    return await _one_at_a_time(directory, store, steps=steps, events=events, answer=answer)


async def late_create(directory: Path, store: str, *, steps: bool, events: int = 2) -> Outcome:
    """The provider makes the chat but answers after the adapter's timeout (0.5 s): the create ends in doubt.

    The emulator's `latency` knob delays a call before the provider acts; a scripted 2xx held with `delay` is the
    provider that acted and then was slow to say so.
    """
    answer = {"status": 201, "method": "POST", "path": "*/chats", "delay": 1.0}
    return await _one_at_a_time(directory, store, steps=steps, events=events, answer=answer, timeout=0.5)


async def dead_letter_then_replay(
    directory: Path, store: str, *, steps: bool, events: int = 1, attempts: int = 3
) -> Outcome:
    """The post fails on every attempt until the event is dead-lettered, then `chatwright replay` it."""
    answer = {"status": 500, "method": "POST", "path": "*/messages", "times": attempts}

    async def replay(config: Path, service: Service) -> int:
        letters = json.loads(await chatwright(config, "dead-letters", "--json"))
        await asyncio.gather(*(chatwright(config, "replay", letter["event"]["id"]) for letter in letters))
        return len(letters)

    return await _one_at_a_time(
        directory, store, steps=steps, events=events, answer=answer, attempts=attempts, after=replay
    )


# -- bursts ------------------------------------------------------------------------------------------------------


async def kill_sqlite_and_restart(
    directory: Path, *, steps: bool, events: int = 150, rate: float = 100
) -> Outcome:
    """A burst of `rate` webhooks a second on one SQLite service, provider 0.2 s a call; `kill -9` while creates
    and posts are in flight, then a restart on the same database; webhooks the dead service refused are sent
    again."""
    async with RoostedEmulator() as emulator:
        await emulator.admin("faults", {"latency": LATENCY})
        config = write_bot(directory, store="sqlite:///bot.db", emulator=emulator, steps=steps)
        async with Services(config) as services:
            door = await emulator.door()
            doomed = await services.start({"EMULATOR_DOOR": door})
            bodies = [webhook(n) for n in range(events)]
            burst = asyncio.create_task(send_webhooks(HOOK, TOKEN, bodies, [doomed.port], rate=rate))
            await _kill_mid_burst(emulator, doomed, door, events)
            refused = await burst
            await wait_until(emulator.quiet, timeout=SETTLE)  # what the dead service left in flight has acted
            restarted = await services.start()
            assert await send_webhooks(HOOK, TOKEN, [bodies[n] for n in refused], [restarted.port]) == []
            await finished(emulator, [restarted], events)
            return await outcome(emulator, [restarted], events)


async def kill_a_replica(
    directory: Path, store: str, *, steps: bool, events: int = 600, rate: float = 200, replicas: int = 3
) -> Outcome:
    """A burst of `rate` webhooks a second spread over replicas sharing a Redis store, provider 0.2 s a call;
    `kill -9` of one while its creates and posts are in flight; webhooks it refused are sent to the others, which
    finish its events."""
    async with RoostedEmulator() as emulator:
        await emulator.admin("faults", {"latency": LATENCY})
        config = write_bot(directory, store=store, emulator=emulator, steps=steps)
        async with Services(config) as services:
            door = await emulator.door()
            doomed, *survivors = await asyncio.gather(
                services.start({"EMULATOR_DOOR": door}), *(services.start() for _ in range(replicas - 1))
            )
            bodies = [webhook(n) for n in range(events)]
            ports = [service.port for service in (doomed, *survivors)]
            burst = asyncio.create_task(send_webhooks(HOOK, TOKEN, bodies, ports, rate=rate))
            await _kill_mid_burst(emulator, doomed, door, events)
            killed_at = time.monotonic()
            refused = await burst
            ports = [service.port for service in survivors]
            assert await send_webhooks(HOOK, TOKEN, [bodies[n] for n in refused], ports) == []
            await finished(emulator, survivors, events)
            return await outcome(emulator, survivors, events, finished_after=time.monotonic() - killed_at)


async def flaky_provider(
    directory: Path, store: str, *, steps: bool, events: int = 300, error_rate: float = 0.3
) -> Outcome:
    """A burst while a share of provider calls answer 503 (before acting); up to 10 attempts per event, so that
    (almost) none is dead-lettered."""
    async with RoostedEmulator() as emulator:
        await emulator.admin("faults", {"error_rate": error_rate})
        config = write_bot(directory, store=store, emulator=emulator, steps=steps, attempts=10)
        async with Services(config) as services:
            service = await services.start()
            assert await send_webhooks(HOOK, TOKEN, [webhook(n) for n in range(events)], [service.port]) == []

            async def idle() -> bool:
                return emulator.quiet() and await service.idle()

            await wait_until(idle, timeout=SETTLE * 2, interval=0.05)
            dead = (await service.metrics())['chatwright_events_total{action="dead"}']
            return await outcome(emulator, [service], events, dead_lettered=int(dead))


async def _kill_mid_burst(emulator: RoostedEmulator, doomed: Service, door: str, events: int) -> None:
    """`kill -9` of `doomed` (which calls the provider through `door`) once a quarter of the chats are made, while
    it has creates and posts in flight that are far from done: the provider carries them out after the kill."""

    def busy() -> bool:
        if sum(Tally.of(emulator.state, events).chats) < events // 4:
            return False
        fresh = [emulator.in_flight(name, door=door, younger_than=LATENCY / 2) for name in CALLS]
        return all(fresh)

    await wait_until(busy, timeout=SETTLE, interval=0.002)
    await doomed.kill()
