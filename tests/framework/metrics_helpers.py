"""Reading `/metrics` in tests: the samples of a Prometheus text page by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[str, float]:
    """`{'chatwright_events_total{action="done"}': 1.0, 'chatwright_inbox_pending': 0.0, ...}`: labels in the
    order the page lists them."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{key}="{value}"' for key, value in sample.labels.items())
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found
