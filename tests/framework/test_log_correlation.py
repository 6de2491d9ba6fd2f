"""One correlation id follows a webhook's event into its JSON log lines: the webhook's, its handler's, the
provider calls', and those of the event its handler emits; each line names what it knows (handler, adapter,
operation, attempt, duration)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from framework.logs import JsonFormatter
from tests.framework.observed_bot import DELIVERY, EVENT_ID, HANDLER, ROUTE, observed_bot


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    lines = Lines()
    logger = logging.getLogger("chatwright")
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)


async def test_a_webhooks_correlation_id_is_on_every_line_it_causes(json_lines: Lines) -> None:
    async with observed_bot() as bot:
        bot.script("roosted", status=429, retry_after=0, method="POST", path="*/messages", times=1)
        body = {"kind": "note.received", "id": DELIVERY, "text": "hi", "follow_up": True}
        assert (await bot.post(ROUTE, body))[0] == 202
        await bot.settle()

    related = [line for line in json_lines.lines if line.get("correlation_id") == EVENT_ID]
    by_logger = {line["logger"] for line in related}
    assert {"chatwright.webhooks", "chatwright.plugin.observed", "chatwright.http"} <= by_logger

    (accepted,) = [line for line in related if line["logger"] == "chatwright.webhooks"]
    assert accepted["event_id"] == EVENT_ID and accepted["route"] == ROUTE

    (posted,) = [line for line in related if line["message"].endswith("posted the note")]
    assert (posted["event_id"], posted["handler"], posted["attempt"]) == (EVENT_ID, HANDLER, 1)

    calls = [line for line in related if line["logger"] == "chatwright.http"]
    assert [(c["operation"], c["status"]) for c in calls] == [
        ("create_chat", 201),
        ("post_message", 429),
        ("post_message", 201),
    ]
    assert all(c["adapter"] == "roosted" and c["handler"] == HANDLER and c["duration_ms"] > 0 for c in calls)

    # the event the handler emitted has its own id and the same correlation id
    (followed,) = [line for line in related if "followed up" in line["message"]]
    assert followed["event_id"] != EVENT_ID and followed["handler"] == "observed.followed_up"


async def test_lines_outside_an_event_carry_no_event_fields(json_lines: Lines) -> None:
    async with observed_bot():
        pass
    assert json_lines.lines
    assert not any("correlation_id" in line or "event_id" in line for line in json_lines.lines)
