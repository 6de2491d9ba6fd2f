"""The OpenTelemetry `Tracer` (framework.tracing): imported only when `[tracing] enabled = true`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from framework.errors import ConfigError
from framework.events import Event

__all__ = ["OtelTracer"]

_PROPAGATOR = TraceContextTextMapPropagator()


def _exporter(name: str) -> SpanExporter | None:
    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter,
            )
        except ImportError:
            raise ConfigError(
                'tracing.exporter = "otlp" needs pip install opentelemetry-exporter-otlp-proto-http;'
                ' or set exporter = "console", or set up a tracer provider yourself'
            ) from None
        exporter: SpanExporter = OTLPSpanExporter()
        return exporter
    return None


def _provider(service_name: str, exporter_name: str) -> Any:
    """The global tracer provider if the application set one up (e.g. `opentelemetry-instrument`), else one of
    this runtime's own, exporting as `exporter_name` says (`[tracing] exporter`)."""
    current = trace.get_tracer_provider()
    if not isinstance(current, trace.ProxyTracerProvider):
        return current
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    exporter = _exporter(exporter_name)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class _CallSpan:
    """A request's span: its answer's status, an error status for a failed request (for a server span only a
    5xx is its own failure)."""

    __slots__ = ("_failed_from", "_span")

    def __init__(self, span: trace.Span, failed_from: int) -> None:
        self._span = span
        self._failed_from = failed_from

    def answered(self, status: int | str) -> None:
        if isinstance(status, int):
            self._span.set_attribute("http.response.status_code", status)
            if status >= self._failed_from:
                self._span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
        else:
            self._span.set_status(Status(StatusCode.ERROR, "no answer"))


class OtelTracer:
    """Spans through an OpenTelemetry tracer provider: `provider`, else the global one, else one of its own for
    `service_name` exporting through `exporter` (framework.tracing.TracingConfig)."""

    def __init__(self, service_name: str, exporter: str, provider: Any = None) -> None:
        self.provider = provider if provider is not None else _provider(service_name, exporter)
        self._tracer: trace.Tracer = self.provider.get_tracer("chatwright")

    @contextmanager
    def webhook(self, route: str) -> Iterator[_CallSpan]:
        with self._tracer.start_as_current_span(
            f"webhook {route}", kind=SpanKind.SERVER, attributes={"http.route": route}
        ) as span:
            yield _CallSpan(span, failed_from=500)

    def handler(self, event: Event, handler: str) -> AbstractContextManager[object]:
        # From the event alone: the task running the handler may have been started inside the webhook's request
        # (a hand-over) and inherited its span, but an event claimed from the inbox later, elsewhere, has only this.
        parent = (
            _PROPAGATOR.extract({"traceparent": event.trace_context})
            if event.trace_context
            else otel_context.Context()
        )
        return self._tracer.start_as_current_span(
            f"handle {handler}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "chatwright.event_id": event.id,
                "chatwright.event_type": event.type,
                "chatwright.handler": handler,
                "chatwright.attempt": event.attempt,
                "chatwright.correlation_id": event.trace_id,
            },
        )

    @contextmanager
    def provider_call(
        self, adapter: str, operation: str | None, method: str, path: str
    ) -> Iterator[_CallSpan]:
        name = f"{adapter} {operation}" if operation else f"{adapter} {method}"
        attributes = {"chatwright.adapter": adapter, "http.request.method": method, "url.path": path}
        if operation:
            attributes["chatwright.operation"] = operation
        with self._tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes) as span:
            yield _CallSpan(span, failed_from=400)

    def trace_context(self) -> str:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        return carrier.get("traceparent", "")
