"""Tracing, optional: a span for each webhook delivery, each handler call and each provider request, one trace
across the inbox (OpenTelemetry, the `otel` extra, `[tracing] enabled = true`).

The framework talks to a `Tracer`; `open_tracer` builds the OpenTelemetry one (framework.otel) only when the
config enables it, so without the extra - or with tracing off - nothing imports opentelemetry and the hot path
pays one `is None` test per place. The webhook's span context is stored in its event (`Event.trace_context`, a
W3C traceparent); the handler spans of that event - in whichever replica claims it, however much later - are its
children, and so are the events a handler emits, and their handlers' spans in turn.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from framework.errors import ConfigError

if TYPE_CHECKING:
    from framework.events import Event

__all__ = ["CallSpan", "Tracer", "TracingConfig", "open_tracer"]

EXPORTERS = ("otlp", "console", "none")


def _exporter(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in EXPORTERS:
        expected = ", ".join(f'"{name}"' for name in EXPORTERS)
        raise ValueError(f"{attribute.name}: unknown exporter {value!r}; expected one of {expected}")


@attrs.frozen(kw_only=True)
class TracingConfig:
    """`[tracing]`: spans through OpenTelemetry (needs `pip install 'chatwright[otel]'`)."""

    enabled: bool = False
    service_name: str = "chatwright"
    """The `service.name` of the spans (when chatwright sets up the tracer provider itself)."""
    exporter: str = attrs.field(default="otlp", validator=_exporter)
    """Where spans go when no tracer provider is set up globally: "otlp" (OTLP over HTTP, configured by the
    standard OTEL_EXPORTER_OTLP_* variables; needs opentelemetry-exporter-otlp-proto-http), "console" (standard
    error) or "none"."""


class CallSpan(Protocol):
    """The span of one request (a webhook delivery, a provider call), open while it runs."""

    def answered(self, status: int | str) -> None:
        """The request ended with HTTP `status`, or `error` when no answer came."""


class Tracer(Protocol):
    def webhook(self, route: str) -> AbstractContextManager[CallSpan]:
        """The span of one delivery to `route`, current while it is received and stored."""

    def handler(self, event: Event, handler: str) -> AbstractContextManager[object]:
        """The span of one handler call: a child of the span that appended `event`, if it has one."""

    def provider_call(
        self, adapter: str, operation: str | None, method: str, path: str
    ) -> AbstractContextManager[CallSpan]:
        """The span of one request to a provider, a child of the current span (the handler's)."""

    def trace_context(self) -> str:
        """The current span as a W3C traceparent, for an event appended now ("" outside any span)."""


def open_tracer(config: TracingConfig, provider: Any = None) -> Tracer | None:
    """The tracer `config` asks for, or None when tracing is off. `provider` is an OpenTelemetry
    TracerProvider to use instead of the global one (tests give one with an in-memory exporter)."""
    if not config.enabled:
        return None
    try:
        from framework.otel import OtelTracer
    except ImportError as error:
        raise ConfigError(
            f"tracing.enabled: OpenTelemetry is not installed ({error}); pip install 'chatwright[otel]'"
            " or set enabled = false"
        ) from None
    return OtelTracer(config.service_name, config.exporter, provider)
