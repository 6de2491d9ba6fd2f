"""Exactly once in effect, measured: issue 15's table again, with steps on and with steps off.

    .venv/bin/python -m tests.benchmarks.exactly_once              # every row
    .venv/bin/python -m tests.benchmarks.exactly_once --rows 4,5   # the two kill rows

Each row runs the README's welcome bot (`chatwright run`, real processes) against the RoostedHR emulator through
one failure and counts, at the provider, how many chats and messages each event ended with (the scenarios are
tests/framework/steps_scenarios.py, which tests/framework/test_steps_process.py asserts on). Retries wait 0.05 to
0.2 s; the kill rows send their burst at 100 (SQLite) and 200 (Redis) webhooks a second and kill once the doomed
service has creates and posts in flight. The Redis row needs Redis at 127.0.0.1:6379 (db 15, a key prefix of its
own, deleted afterwards); without it the row says so. Takes a minute or two. Not collected by pytest (the file
name does not start with `test_`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs

from tests.framework import steps_scenarios as scenarios
from tests.framework.store_fixtures import isolated_redis_url, redis_problem

__all__ = ["ROWS", "main"]

Scenario = Callable[[Path, bool], Awaitable[scenarios.Outcome]]
"""A row's run: (a directory of its own, steps on?) -> what the provider ended with."""

SQLITE = "sqlite:///bot.db"


@attrs.frozen
class Row:
    what: str
    run: Scenario
    redis: bool = False


async def _on_redis(directory: Path, steps: bool) -> scenarios.Outcome:
    with isolated_redis_url() as url:
        return await scenarios.kill_a_replica(directory, url, steps=steps, events=600)


ROWS: tuple[Row, ...] = (
    Row(
        "the post answers 500 twice, the handler is retried",
        lambda d, steps: scenarios.retried_post(d, SQLITE, steps=steps, events=10),
    ),
    Row(
        "the post keeps failing until the event is dead-lettered, then `chatwright replay`",
        lambda d, steps: scenarios.dead_letter_then_replay(d, SQLITE, steps=steps, events=5, attempts=5),
    ),
    Row(
        "the provider answers the create after the client's timeout (it did create the chat)",
        lambda d, steps: scenarios.late_create(d, SQLITE, steps=steps, events=5),
    ),
    Row(
        "`kill -9` of a SQLite service mid-burst (provider 0.2 s a call), restart (150 events)",
        lambda d, steps: scenarios.kill_sqlite_and_restart(d, steps=steps, events=150),
    ),
    Row(
        "`kill -9` of one of three replicas on Redis (600 events)",
        _on_redis,
        redis=True,
    ),
    Row(
        "30% of provider calls answer 503 (300 events)",
        lambda d, steps: scenarios.flaky_provider(d, SQLITE, steps=steps, events=300, error_rate=0.3),
    ),
)


def _notes(outcome: scenarios.Outcome) -> str:
    """What else the run shows: events dead-lettered, calls left in doubt, how the journal settled them."""
    notes = []
    if outcome.dead_lettered:
        notes.append(f"{outcome.dead_lettered} dead-lettered")
    if outcome.unanswered:
        calls = ", ".join(f"{count} {call}" for call, count in sorted(outcome.unanswered.items()))
        notes.append(f"acted after the caller left: {calls}")
    if outcome.finished_after:
        notes.append(f"finished {outcome.finished_after:.1f} s after the kill")
    shown = ("replayed", "reconciled", "possible_duplicate")
    if any(outcome.steps.get(key) for key in shown):
        notes.append("steps " + ", ".join(f"{key} {int(outcome.steps.get(key, 0))}" for key in shown))
    return "; ".join(notes)


async def _measure(row: Row, steps: bool) -> list[str]:
    """The table cells of one run: steps, chats per event, messages per event, notes."""
    mode = "on" if steps else "off"
    if row.redis and (problem := redis_problem()) is not None:
        return [mode, "-", "-", f"skipped: {problem}"]
    with tempfile.TemporaryDirectory(prefix="chatwright-exactly-once-") as directory:
        outcome = await row.run(Path(directory), steps)
    tally = outcome.tally
    return [mode, tally.describe("chat"), tally.describe("message"), _notes(outcome)]


async def _table(rows: list[Row]) -> list[str]:
    lines = [
        "| what happened | steps | chats per event | messages per event | notes |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        for steps in (True, False):
            print(f"{row.what} (steps {'on' if steps else 'off'}) ...", file=sys.stderr, flush=True)
            cells = await _measure(row, steps)
            lines.append("| " + " | ".join([row.what, *cells]) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.exactly_once",
        description="Issue 15's table measured again, with steps on and with steps off.",
    )
    parser.add_argument(
        "--rows", help=f"which rows to run, by number (1-{len(ROWS)}), comma-separated; all by default"
    )
    args = parser.parse_args(argv)
    numbers = [int(n) for n in args.rows.split(",")] if args.rows else range(1, len(ROWS) + 1)
    if not all(1 <= n <= len(ROWS) for n in numbers):
        parser.error(f"--rows: numbers from 1 to {len(ROWS)}")
    print("\n".join(asyncio.run(_table([ROWS[n - 1] for n in numbers]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
