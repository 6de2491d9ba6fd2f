"""`/metrics`: every series a dashboard and the alerts read, from a real run (webhook, handler, provider calls
against the emulator with a 429, a dead letter, a schedule fire), and one registry per runtime."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from framework.metric_series import HistogramFamily
from framework.metrics_exposition import Exposition
from tests.framework.metrics_helpers import samples
from tests.framework.observed_bot import HANDLER, ROUTE, exercise, observed_bot


async def test_a_run_is_counted_and_timed_by_route_handler_adapter_and_operation() -> None:
    async with observed_bot() as bot:
        text = await exercise(bot)
    found = samples(text)
    assert found[f'chatwright_webhook_requests_total{{route="{ROUTE}",status="202"}}'] == 1
    assert found[f'chatwright_webhook_intake_seconds_count{{route="{ROUTE}"}}'] == 1
    assert found[f'chatwright_handler_seconds_count{{handler="{HANDLER}",outcome="ok"}}'] == 1
    assert found['chatwright_handler_seconds_count{handler="observed.doomed",outcome="error"}'] == 1
    calls = 'chatwright_provider_calls_total{adapter="roosted",operation="%s",status="%s"}'
    assert found[calls % ("post_message", "429")] == 1  # the scripted one, then retried
    assert found[calls % ("post_message", "201")] == 1
    assert found[calls % ("create_chat", "201")] == 1
    assert found['chatwright_provider_retries_total{adapter="roosted",operation="post_message"}'] == 1
    assert found['chatwright_provider_call_seconds_count{adapter="roosted",operation="post_message"}'] == 2
    assert found['chatwright_events_total{action="done"}'] == 3  # the note, its follow-up, the tick
    assert found['chatwright_events_total{action="dead"}'] == 1
    assert found["chatwright_dead_letters"] == 1
    assert found["chatwright_inbox_pending"] == 0
    assert found["chatwright_inbox_oldest_age_seconds"] == 0
    assert found["chatwright_schedule_lateness_seconds_count"] == 1
    assert found['chatwright_schedule_fires_total{result="appended"}'] == 1
    assert found['chatwright_steps_total{outcome="performed"}'] == 2
    assert found["chatwright_handed_over_total"] >= 1
    assert found["chatwright_ready"] == 1


async def test_the_page_is_the_prometheus_text_format_with_help_and_types() -> None:
    async with observed_bot() as bot:
        await exercise(bot)
        response = await bot.get("/metrics")
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        families = {f.name: f.type for f in text_string_to_metric_families(await response.text())}
    assert families["chatwright_handler_seconds"] == "histogram"
    assert families["chatwright_provider_calls"] == "counter"
    assert families["chatwright_inbox_oldest_age_seconds"] == "gauge"


async def test_two_runtimes_in_one_process_keep_their_own_series() -> None:
    async with observed_bot() as busy, observed_bot() as idle:
        await exercise(busy)
        quiet = samples(await (await idle.get("/metrics")).text())
    assert f'chatwright_webhook_requests_total{{route="{ROUTE}",status="202"}}' not in quiet
    assert quiet['chatwright_events_total{action="done"}'] == 0


def test_a_histogram_counts_each_value_in_the_first_bucket_it_fits_cumulatively() -> None:
    family = HistogramFamily("t_seconds", "test", ("kind",), (0.1, 1.0))
    series = family.series("a")
    for value in (0.05, 0.1, 0.5, 1.0, 7.0):
        series.observe(value)
    found = samples(Exposition([family]).text().decode())
    assert [found[f't_seconds_bucket{{kind="a",le="{le}"}}'] for le in ("0.1", "1.0", "+Inf")] == [2, 4, 5]
    assert found['t_seconds_count{kind="a"}'] == 5
    assert found['t_seconds_sum{kind="a"}'] == 8.65
