"""Tracing (the `otel` extra): a span for the webhook, each handler call and each provider request, one trace
across the inbox and into the events a handler emits; exported through the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import subprocess
import sys
from typing import Any

import pytest

from framework.config import config_from_dict
from framework.errors import ConfigError
from framework.tracing import TracingConfig, open_tracer
from tests.conftest import ROOT, require_service
from tests.framework.observed_bot import DELIVERY, EVENT_ID, ROUTE, observed_bot

OTEL = importlib.util.find_spec("opentelemetry.sdk") is not None


@pytest.fixture
def exported() -> Any:
    require_service("opentelemetry", OTEL, "not installed; pip install -e '.[dev]' (or '.[otel]')")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def test_a_webhook_its_handlers_and_their_provider_calls_make_one_trace(exported: Any) -> None:
    provider, exporter = exported
    tracer = open_tracer(TracingConfig(enabled=True), provider)
    async with observed_bot(tracer) as bot:
        bot.script("roosted", status=429, retry_after=0, method="POST", path="*/messages", times=1)
        body = {"kind": "note.received", "id": DELIVERY, "text": "hi", "follow_up": True}
        assert (await bot.post(ROUTE, body))[0] == 202
        await bot.settle()
    spans = {span.name: span for span in exporter.get_finished_spans() if span.name != "roosted post_message"}
    posts = [span for span in exporter.get_finished_spans() if span.name == "roosted post_message"]

    webhook = spans[f"webhook {ROUTE}"]
    note = spans["handle observed.note"]
    followed_up = spans["handle observed.followed_up"]
    create = spans["roosted create_chat"]
    assert {span.context.trace_id for span in [webhook, note, followed_up, create, *posts]} == {
        webhook.context.trace_id
    }
    # across the inbox: the handler's parent is the webhook; the emitted event's handler is the handler's child
    assert note.parent is not None and note.parent.span_id == webhook.context.span_id
    assert followed_up.parent is not None and followed_up.parent.span_id == note.context.span_id
    assert all(
        call.parent is not None and call.parent.span_id == note.context.span_id for call in [create, *posts]
    )
    assert [call.attributes["http.response.status_code"] for call in posts] == [429, 201]
    assert webhook.attributes["http.response.status_code"] == 202
    assert note.attributes["chatwright.event_id"] == EVENT_ID
    assert note.attributes["chatwright.correlation_id"] == EVENT_ID
    assert posts[0].attributes["chatwright.operation"] == "post_message"


def test_tracing_is_off_by_default_and_then_nothing_imports_opentelemetry() -> None:
    assert open_tracer(TracingConfig()) is None
    script = (
        "import sys, asyncio\n"
        "from tests.framework.observed_bot import exercise, observed_bot\n"
        "async def main():\n"
        "    async with observed_bot() as bot:\n"
        "        await exercise(bot)\n"
        "asyncio.run(main())\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')], 'opentelemetry imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_an_unknown_exporter_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match='expected one of "otlp", "console", "none"'):
        TracingConfig(enabled=True, exporter="jaeger")


def test_without_the_extra_enabling_tracing_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "framework.otel", None)  # as if opentelemetry were not installed
    with pytest.raises(ConfigError, match=r"pip install 'chatwright\[otel\]'"):
        open_tracer(TracingConfig(enabled=True))


def test_the_observability_guides_tracing_example_runs(exported: Any) -> None:
    text = (ROOT / "docs" / "observability.md").read_text()
    match = re.search(r"```python\n(from opentelemetry.*?)```", text, re.S)
    assert match, "docs/observability.md lost its tracing example"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), "observability.md", "exec"), namespace)
    assert namespace["bot"]._tracer is not None


def test_the_tracing_table_turns_it_on(tmp_path: Any) -> None:
    require_service("opentelemetry", OTEL, "not installed; pip install -e '.[dev]' (or '.[otel]')")
    from opentelemetry.sdk.trace import TracerProvider

    config = config_from_dict(
        {"tracing": {"enabled": True, "service_name": "shiftchat", "exporter": "none"}},
        tmp_path / "bot.toml",
        "bot.toml",
        {},
    )
    tracer = open_tracer(config.tracing)
    assert tracer is not None
    provider = tracer.provider  # type: ignore[attr-defined]
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes["service.name"] == "shiftchat"


async def test_the_otlp_exporter_delivers_the_spans_to_a_collector(
    aiohttp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default exporter, as the `otel` extra installs it: OTLP over HTTP to the endpoint the standard
    variable names (here a collector stand-in that decodes what it gets)."""
    require_service("opentelemetry", OTEL, "not installed; pip install -e '.[dev]' (or '.[otel]')")
    from aiohttp import web
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    names: list[str] = []

    async def traces(request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        export = ExportTraceServiceRequest.FromString(await request.read())
        for resource in export.resource_spans:
            names.extend(span.name for scope in resource.scope_spans for span in scope.spans)
        return web.Response(status=200)

    collector = web.Application()
    collector.router.add_post("/v1/traces", traces)
    server = await aiohttp_server(collector)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", str(server.make_url("/v1/traces")))
    tracer = open_tracer(TracingConfig(enabled=True, service_name="otlp-test"))
    assert tracer is not None
    provider = tracer.provider  # type: ignore[attr-defined]
    try:
        async with observed_bot(tracer) as bot:
            body = {"kind": "note.received", "id": DELIVERY, "text": "hi", "follow_up": False}
            assert (await bot.post(ROUTE, body))[0] == 202
            await bot.settle()
        # the exporter's thread posts to the collector on this loop: flush from another thread
        assert await asyncio.to_thread(provider.force_flush, 10_000)
    finally:
        await asyncio.to_thread(provider.shutdown)
    assert f"webhook {ROUTE}" in names
    assert "handle observed.note" in names
