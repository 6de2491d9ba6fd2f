"""The `/metrics` text: a runtime's series written in the Prometheus text format by prometheus_client.

framework.metrics imports this module at the first scrape, so a service nobody scrapes does not load
prometheus_client (nor the HTTP servers its exposition module brings along): tests/test_import_rules.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from framework.metric_series import Source

__all__ = ["Exposition"]


class Exposition:
    """A registry of its own over `sources` (several runtimes in one process do not share series)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, sources: Sequence[Source]) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        for source in sources:
            self._registry.register(source)

    def text(self) -> bytes:
        return generate_latest(self._registry)
