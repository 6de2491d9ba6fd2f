"""What the worker tells the store about a finished attempt for the event history (the admin console's events).

Runs for every event: an attempt whose handlers all succeeded reuses the JSON of the last one with the same
handlers; only failures pay for their traceback.
"""

from __future__ import annotations

import traceback

import attrs

from framework import jsoncodec
from framework.dispatch import DispatchOutcome, HandlerFailure
from framework.errors import ProviderError
from framework.store.base import Finished, Store

__all__ = ["HistoryNotes"]

MAX_TRACEBACK = 8000
"""Characters of a failure's traceback kept (its end, where the error is)."""


def _failure(failure: HandlerFailure) -> dict[str, object]:
    error = failure.error
    text = "".join(traceback.format_exception(error))
    noted: dict[str, object] = {
        "handler": failure.handler,
        "outcome": "failed",
        "error": f"{type(error).__name__}: {error}",
        "traceback": text[-MAX_TRACEBACK:],
    }
    if isinstance(error, ProviderError):
        noted["provider"] = error.provider
        noted["status"] = error.status
    return noted


@attrs.define
class HistoryNotes:
    """Builds the `Finished` of each attempt for `store` (one per worker: it caches the JSON of plain
    successes); None when the store keeps no history (`history_size = 0`)."""

    store: Store
    _succeeded: dict[tuple[str, ...], bytes] = attrs.field(factory=dict, alias="_succeeded")

    def finished(self, outcome: DispatchOutcome, action: str, duration: float) -> Finished | None:
        if not self.store.history_size:
            return None
        if not outcome.skipped and not outcome.failures:
            handlers = self._succeeded.get(outcome.succeeded)
            if handlers is None:
                handlers = self._succeeded[outcome.succeeded] = jsoncodec.dumps(
                    [{"handler": name, "outcome": "ok"} for name in outcome.succeeded]
                )
            return Finished(action, duration, handlers)
        notes: list[dict[str, object]] = [{"handler": name, "outcome": "ok"} for name in outcome.succeeded]
        notes += [{"handler": name, "outcome": "skipped"} for name in outcome.skipped]
        notes += [_failure(failure) for failure in outcome.failures]
        return Finished(action, duration, jsoncodec.dumps(notes))
