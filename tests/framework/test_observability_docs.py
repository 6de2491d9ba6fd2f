"""docs/grafana/chatwright.json and docs/alerts.yml read only series a live `/metrics` serves, and the
dashboard shows every series the service has."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.framework.observed_bot import exercise, observed_bot

DOCS = Path(__file__).resolve().parents[2] / "docs"
SERIES = re.compile(r"\bchatwright_[a-z0-9_]+\b")


def dashboard_expressions(panels: list[dict[str, Any]]) -> Iterator[str]:
    for panel in panels:
        yield from dashboard_expressions(panel.get("panels", []))
        for target in panel.get("targets", []):
            yield target["expr"]


def alert_expressions() -> list[str]:
    rules = yaml.safe_load((DOCS / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


async def test_the_dashboard_and_the_alerts_read_series_a_live_service_serves() -> None:
    dashboard = json.loads((DOCS / "grafana" / "chatwright.json").read_text())
    shown = {name for expr in dashboard_expressions(dashboard["panels"]) for name in SERIES.findall(expr)}
    alerted = {name for expr in alert_expressions() for name in SERIES.findall(expr)}
    async with observed_bot() as bot:
        families = list(text_string_to_metric_families(await exercise(bot)))
    served = {sample.name for family in families for sample in family.samples}

    assert shown - served == set(), "the dashboard reads series /metrics does not serve"
    assert alerted - served == set(), "the alerts read series /metrics does not serve"
    assert {"chatwright_inbox_oldest_age_seconds", "chatwright_dead_letters"} <= alerted
    assert any('status="429"' in expr for expr in alert_expressions())
    unshown = {family.name for family in families if not any(name.startswith(family.name) for name in shown)}
    assert unshown == set(), "series the dashboard does not show"
