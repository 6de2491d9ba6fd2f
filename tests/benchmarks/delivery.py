"""What the RoostedHR emulator recorded of a fan-out (`/_emulator/bench-delivery`), and whether every chat got
its message exactly once: shared by the fan-out benchmarks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def delivery_figures(delivery: dict[str, Any], chat_ids: Iterable[str]) -> dict[str, Any]:
    """The messages stored and POSTs recorded for `chat_ids` (other benchmarks' chats left out), whether each
    chat holds exactly one message, and the 429s the emulator answered."""
    chats = list(chat_ids)
    wanted = set(chats)
    stored = {chat: n for chat, n in delivery["messages"].items() if chat in wanted}
    posts = {chat: n for chat, n in delivery["posts"].items() if chat in wanted}
    return {
        "delivered": sum(stored.values()),
        "exactly_once": all(stored.get(chat) == 1 for chat in chats),
        "posts_recorded": sum(posts.values()),
        "chats_posted_twice": sum(1 for n in posts.values() if n > 1),
        "emulator_429s": delivery["throttled"],
    }


def delivery_problem(found: dict[str, Any], chats: int) -> str | None:
    """Why `found` (with `delivery_figures`) is not exactly once, or None: a chat without its one message, or a
    POST more than the messages that the emulator did not answer 429 (a repeated effect)."""
    extra_posts = found["posts_recorded"] - found["delivered"]
    if found["exactly_once"] and extra_posts == found["emulator_429s"]:
        return None
    return (
        f"delivered {found['delivered']} messages for {chats} chats;"
        f" {extra_posts} POSTs more than messages, {found['emulator_429s']} of them answered 429"
    )
