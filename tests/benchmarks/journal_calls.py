"""Provider calls through the step journal, or straight to the adapter, for counting the journal's instructions.

    .venv/bin/python -m tests.benchmarks.journal_calls --calls 10000 --steps on

Each call is what a handler's `await ctx.chats["roosted"].post_message(chat_id, text)` does on a first delivery
with steps on (a journal for the handler call, its adapter wrapped, the call made a step, the journal finished)
or off (the adapter's method called). The adapter answers at once with a `Message`, so what differs between the two
is the journal alone. `python -m tests.benchmarks.instructions --only journal` counts both under callgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
from typing import Any

from framework.chats import Capability, Message
from framework.events import new_event
from framework.gc_tuning import YOUNG_THRESHOLD
from framework.steps import JournaledChats, Steps
from tests.benchmarks.plugins import MESSAGE

__all__ = ["InstantProvider", "main", "make_calls"]

ADAPTER = "roosted"
HANDLER = "bench_post.post"


class InstantProvider:
    """An adapter whose `post_message` answers at once, as a provider's 201 would."""

    name = "roostedhr"
    capabilities = frozenset({Capability.POST_MESSAGE})

    async def post_message(self, chat_id: str | int, text: str) -> Message:
        return Message(provider=self.name, chat_id=str(chat_id), id="1", text=text)


async def make_calls(calls: int, *, steps: bool) -> None:
    """`calls` provider calls, each as one handler call on a first delivery makes it."""
    provider = InstantProvider()
    providers: dict[str, Any] = {ADAPTER: provider}  # a ChatProvider in what the journal calls of it
    journals = Steps(store=None)  # type: ignore[arg-type]  # a first delivery's single step reads and writes nothing
    event = new_event("shift.published", {"data": {"chat_id": "c-1"}})
    for _ in range(calls):
        if steps:
            journal = journals.journal(event, HANDLER)
            await JournaledChats(providers, journal)[ADAPTER].post_message("c-1", MESSAGE)
            journal.finish()
        else:
            await provider.post_message("c-1", MESSAGE)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--steps", choices=["on", "off"], required=True)
    args = parser.parse_args(argv)
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])  # as `chatwright run` sets it
    asyncio.run(make_calls(args.calls, steps=args.steps == "on"))


if __name__ == "__main__":
    main()
