"""Log output: text lines (the default) or JSON lines (`[logging] format = "json"`).

A JSON line is one object: `time` (UTC, ISO 8601), `level`, `logger`, `message`, and where known the `event_id`,
`correlation_id`, `event_type`, `handler`, `attempt`, `adapter`, `operation` and `duration_ms`, then any other
`extra` the record carries; `exception` holds the traceback of a record logged with one. The fields come from
the record's `extra` (ctx.log's EventLogger puts the event's there), else from what the code logging it was
working on (framework.scope: the webhook's event, the handler call, the provider call's adapter and operation),
else from the `[event id]` a message starts with and a `chatwright.adapters.<provider>` logger name.
`correlation_id` is the event's `trace_id`: the same on the webhook's lines, its handlers' and their provider
calls', and on those of every event its handlers emit.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from framework import scope

__all__ = ["TEXT_FORMAT", "JsonFormatter", "use_format"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
_EVENT_PREFIX = re.compile(r"^\[([^\]\s]+)\] ")
_ADAPTER_LOGGER = "chatwright.adapters."
_FIRST = (
    "event_id",
    "correlation_id",
    "event_type",
    "handler",
    "attempt",
    "adapter",
    "operation",
    "duration_ms",
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module's doc)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        extra = {key: value for key, value in record.__dict__.items() if key not in _STANDARD}
        for key, value in scope.current().fields().items():
            extra.setdefault(key, value)
        if "event_id" not in extra:
            match = _EVENT_PREFIX.match(message)
            if match:
                extra["event_id"] = match.group(1)
        if "adapter" not in extra and record.name.startswith(_ADAPTER_LOGGER):
            extra["adapter"] = record.name[len(_ADAPTER_LOGGER) :].split(".", 1)[0]
        for key in _FIRST:
            if extra.get(key) is not None:
                line[key] = extra.pop(key)
        for key, value in extra.items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def use_format(format: str) -> None:
    """Switch the root logger's stream handlers (what `chatwright` set up at start) to `format`, "text" or
    "json"; handlers others added (a test's log capture) are left alone."""
    formatter = JsonFormatter() if format == "json" else logging.Formatter(TEXT_FORMAT)
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler:
            handler.setFormatter(formatter)
