"""The one outbound HTTP client every adapter uses: timeouts, retries with full jitter, rate limits, error mapping.

Retry rules. A call is retried on connection errors, 429 and 5xx, waiting what the provider asked for
(`Retry-After`, or a `retry_after` field in the error body) or else an exponential backoff with full jitter.
A call that is not idempotent (POST and PATCH unless the adapter says the operation is safe to repeat) is retried
only when the provider cannot have acted on it: the connection was never made, or the answer was 429.

Rate limit. Requests to one provider are paced first come, first served, `1 / rate_limit` seconds apart (a
burst of `burst` may go back to back), a little below the configured rate (RATE_HEADROOM): a provider that
counts requests in a sliding second then never sees one too many, even when they reach it with some jitter.
The pacing is a `Limiter`: the per-process `RateLimiter` here, or one the runtime builds from a shared store
(`HttpSettings.limiter`), so every replica sharing the store paces against one limit. A 429 with a retry time
is passed to the limiter (`Limiter.hold`): every caller of that limiter - on every replica, for a shared one -
holds back until then.

Observing. Each request is reported to `HttpSettings.observer` (the runtime's metrics for this adapter) with
its operation (the step under way, framework.scope), status and duration, and logged at DEBUG with the event,
handler and correlation id of the call (framework.logs). Nothing is added to what is sent.

Concurrency. `HttpSettings.concurrency` bounds the requests in flight to the provider at once (a semaphore
taken before the limiter), so one slow or throttled provider holds at most that many connections.
"""

from __future__ import annotations

import asyncio
import logging
import time
import types
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
import attrs

from framework import jsoncodec, scope
from framework.errors import (
    AuthError,
    Conflict,
    InvalidRequest,
    NotFound,
    ProviderError,
    RateLimited,
    Unavailable,
)
from framework.retries import backoff

__all__ = [
    "CallObserver",
    "ErrorDetails",
    "HttpClient",
    "HttpSettings",
    "Limiter",
    "RateLimiter",
    "RetryPolicy",
    "default_error_parser",
]

if TYPE_CHECKING:
    from framework.tracing import CallSpan, Tracer

log = logging.getLogger("chatwright.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

RATE_HEADROOM = 0.02
"""The limiter paces this share below the configured rate, against the jitter of requests in transit."""

SHARED_RATE_HEADROOM = 0.03
"""The same, for a limiter shared by several processes (`HttpSettings.limiter`): requests from several hosts
reach the provider with more jitter between them than those of one process."""

LATE_SLOT = 0.01
"""Seconds a caller may wake after its slot and still use it. One that wakes later (its event loop was busy)
takes a new slot, once: sent late, it would go out with the slots after it, and a busy loop waking many at
once would send a burst the provider counts in one second."""


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How often and how long to retry: `attempts` counts the first try."""

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 20.0
    max_retry_after: float = 120.0


@attrs.frozen(kw_only=True)
class HttpSettings:
    """Per-provider transport settings: total timeout per try, retries, and a client-side rate limit."""

    timeout: float = 15.0
    retry: RetryPolicy = RetryPolicy()
    rate_limit: float | None = None
    """Requests per second sent to the provider at most (None: no limit): by this process, or by every process
    sharing `limiter` when one is given."""
    burst: int = 1
    """Requests that may go back to back before the pacing applies."""
    concurrency: int | None = None
    """Requests in flight to the provider at once, at most (None: no bound but the connection pool's)."""
    limiter: Limiter | None = attrs.field(default=None, eq=False, repr=False)
    """Paces the requests instead of a per-process `RateLimiter` (built by the runtime from a shared store)."""
    observer: CallObserver | None = attrs.field(default=None, eq=False, repr=False)
    """Told of every request and retry (the runtime's metrics for this adapter)."""


@attrs.frozen(kw_only=True)
class ErrorDetails:
    """What a provider's error body says, read by the adapter's error parser."""

    message: str
    code: str | None = None
    field_errors: Mapping[str, list[str]] = attrs.field(factory=dict)
    retry_after: float | None = None


ErrorParser = Callable[[int, Any], ErrorDetails]


def default_error_parser(status: int, body: Any) -> ErrorDetails:
    """Read `{message}` / `{error}` bodies, or the text itself."""
    if isinstance(body, Mapping):
        message = body.get("message") or body.get("error") or body.get("detail") or ""
        code = body.get("type") or body.get("code")
        return ErrorDetails(message=str(message) or f"HTTP {status}", code=str(code) if code else None)
    if isinstance(body, str) and body.strip():
        return ErrorDetails(message=body.strip()[:500])
    return ErrorDetails(message=f"HTTP {status}")


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


_ERROR_TYPES: dict[int, type[ProviderError]] = {
    400: InvalidRequest,
    401: AuthError,
    403: AuthError,
    404: NotFound,
    409: Conflict,
    422: InvalidRequest,
    429: RateLimited,
}


class _NotSent(Exception):
    """The connection failed before the request could reach the provider."""


class Limiter(Protocol):
    """Paces the requests to one provider: `acquire` returns when the next one may go."""

    async def acquire(self) -> None:
        """Wait for a slot to send one request."""

    async def hold(self, seconds: float) -> None:
        """The provider asked for a pause (a 429 with a retry time): no slot is handed out for `seconds`."""


class CallObserver(Protocol):
    """Told of each request to one adapter's provider: `adapter` is its configured name (`[adapters.NAME]`)."""

    adapter: str
    tracer: Tracer | None
    """Opens a span for each request, when tracing is on."""

    def finished(self, operation: str | None, status: str, seconds: float) -> None:
        """A request answered with HTTP `status`, or `error` when no answer came."""

    def retried(self, operation: str | None) -> None:
        """A request is about to be sent again."""


class RateLimiter:
    """Paces requests `1 / rate` seconds apart in the order they ask, letting `burst` go back to back.

    A generic cell rate algorithm: one number (the time the next request is due), no background task, and
    each waiter sleeps exactly until its own slot, however many are waiting. A `hold` moves the next slot past
    the pause and makes every waiter still asleep take a new slot after it, in the order they woke.
    """

    def __init__(self, rate: float, burst: int = 1) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        self.interval = 1.0 / rate
        self.allowance = max(0, burst - 1) * self.interval
        self._due = 0.0
        self._holds = 0

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        late_once = False
        while True:
            now = loop.time()
            due = max(self._due, now)
            self._due = due + self.interval
            wait = due - self.allowance - now
            if wait <= 0:
                return
            holds = self._holds
            await asyncio.sleep(wait)
            if holds != self._holds:
                continue
            if loop.time() - (now + wait) <= LATE_SLOT or late_once:
                return
            late_once = True  # woke too late for its slot: take a new one (once), not someone else's

    async def hold(self, seconds: float) -> None:
        if seconds > 0:
            self._due = asyncio.get_running_loop().time() + seconds + self.allowance
            self._holds += 1


class HttpClient:
    """Sends JSON requests to one provider and turns its answers into Python values or ProviderErrors."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        settings: HttpSettings | None = None,
        headers: Mapping[str, str] | None = None,
        error_parser: ErrorParser = default_error_parser,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.settings = settings or HttpSettings()
        self.headers: Mapping[str, str] = types.MappingProxyType(
            dict(headers or {})
        )  # fixed: see _json_headers
        self._error_parser = error_parser
        self._session = session
        self._owns_session = session is None
        self._limiter: Limiter | None = self.settings.limiter or (
            RateLimiter(self.settings.rate_limit * (1 - RATE_HEADROOM), self.settings.burst)
            if self.settings.rate_limit
            else None
        )
        concurrency = self.settings.concurrency
        if concurrency is not None and concurrency < 1:
            raise ValueError(f"concurrency must be 1 or more, got {concurrency!r}")
        self._slots = asyncio.Semaphore(concurrency) if concurrency else None
        self.calls = 0
        """Requests actually sent, retries included (for tests and metrics)."""
        # Built once: every call would otherwise build its timeout and merge its headers anew.
        self._timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
        self._json_headers: dict[str, str] = {**self.headers}
        self._json_headers.setdefault("Content-Type", "application/json")
        self._observer = self.settings.observer
        self._tracer = None if self._observer is None else self._observer.tracer
        self._log_extra = {"adapter": self._observer.adapter if self._observer else provider}

    def _session_or_new(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, ttl_dns_cache=300),
                json_serialize=lambda value: jsoncodec.dumps(value).decode(),
            )
            self._owns_session = True
        return self._session

    async def close(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one call (retrying as the rules allow) and return the decoded body (None when empty)."""
        method = method.upper()
        safe_to_repeat = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        policy = self.settings.retry
        attempts = max(1, policy.attempts)
        attempt = 0
        while True:
            attempt += 1
            try:
                send = self._send_once if self._tracer is None else self._send_traced
                if self._slots is None:
                    return await send(method, path, json, params, data, headers)
                async with self._slots:
                    return await send(method, path, json, params, data, headers)
            except _NotSent as error:
                if attempt >= attempts:
                    raise Unavailable(
                        f"cannot connect: {error}", provider=self.provider, retryable=True
                    ) from error.__cause__
                delay = self._backoff(attempt)
            except (RateLimited, Unavailable) as refused:  # not `error`: one name, one type per function
                if attempt >= attempts or not (safe_to_repeat or isinstance(refused, RateLimited)):
                    raise
                asked = refused.retry_after
                delay = self._backoff(attempt) if asked is None else min(float(asked), policy.max_retry_after)
            if self._observer is not None:
                self._observer.retried(scope.current().operation)
            await asyncio.sleep(delay)

    def _backoff(self, attempt: int) -> float:
        policy = self.settings.retry
        return backoff(attempt, policy.base_delay, policy.max_delay)

    async def _send_traced(
        self,
        method: str,
        path: str,
        json_body: Any,
        params: Mapping[str, Any] | None,
        data: bytes | None,
        extra_headers: Mapping[str, str] | None,
    ) -> Any:
        """`_send_once` in a span of its own (a child of the handler's)."""
        tracer, adapter = self._tracer, self._log_extra["adapter"]
        if tracer is None:
            return await self._send_once(method, path, json_body, params, data, extra_headers)
        with tracer.provider_call(adapter, scope.current().operation, method, path) as span:
            return await self._send_once(method, path, json_body, params, data, extra_headers, span)

    async def _send_once(
        self,
        method: str,
        path: str,
        json_body: Any,
        params: Mapping[str, Any] | None,
        data: bytes | None,
        extra_headers: Mapping[str, str] | None,
        span: CallSpan | None = None,
    ) -> Any:
        if self._limiter is not None:
            await self._limiter.acquire()
        session = self._session_or_new()
        url = f"{self.base_url}{path}"
        body: bytes | None = data
        headers: Mapping[str, str]
        if json_body is not None:
            body = jsoncodec.dumps(json_body)
            headers = self._json_headers
        else:
            headers = self.headers
        if extra_headers:
            headers = {**headers, **extra_headers}
        query = {k: _query_value(v) for k, v in params.items() if v is not None} if params else None
        started = time.perf_counter()
        self.calls += 1
        try:
            async with session.request(
                method, url, data=body, params=query or None, headers=headers, timeout=self._timeout
            ) as response:
                raw = await response.read()
                status = response.status
                content_type = response.headers.get("Content-Type", "")
                retry_after_header = response.headers.get("Retry-After")
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as error:
            self._finished(method, path, "error", started, span)
            if isinstance(error, aiohttp.ClientConnectorError):
                raise _NotSent(str(error)) from error
            raise Unavailable(f"connection lost: {error}", provider=self.provider) from error
        except TimeoutError as error:
            self._finished(method, path, "error", started, span)
            raise Unavailable(f"no answer within {self.settings.timeout}s", provider=self.provider) from error
        except aiohttp.ClientError as error:
            self._finished(method, path, "error", started, span)
            raise Unavailable(f"transport error: {error}", provider=self.provider) from error
        self._finished(method, path, status, started, span)
        decoded = _decode(raw, content_type)
        if 200 <= status < 300:
            return decoded
        failure = self._error(status, decoded, retry_after_header)
        if status == 429 and failure.retry_after and self._limiter is not None:
            await self._limiter.hold(min(float(failure.retry_after), self.settings.retry.max_retry_after))
        raise failure

    def _finished(
        self, method: str, path: str, status: int | str, started: float, span: CallSpan | None
    ) -> None:
        """Report a request to the observer and its span, and log it at DEBUG (with the scope's event and
        handler)."""
        seconds = time.perf_counter() - started
        if span is not None:
            span.answered(status)
        if self._observer is not None:
            self._observer.finished(scope.current().operation, str(status), seconds)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s %s -> %s in %.1f ms",
                self.provider,
                method,
                path,
                status,
                seconds * 1000,
                extra={**self._log_extra, "status": status, "duration_ms": round(seconds * 1000, 3)},
            )

    def _error(self, status: int, body: Any, retry_after_header: str | None) -> ProviderError:
        details = self._error_parser(status, body)
        retry_after = details.retry_after
        if retry_after is None:
            retry_after = _parse_retry_after(retry_after_header)
        kind = _ERROR_TYPES.get(status) or (Unavailable if status >= 500 else ProviderError)
        common: dict[str, Any] = {
            "provider": self.provider,
            "status": status,
            "code": details.code,
            "retry_after": retry_after,
            "body": body,
        }
        if kind is InvalidRequest:
            return InvalidRequest(details.message, field_errors=details.field_errors, **common)
        return kind(details.message, **common)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _decode(raw: bytes, content_type: str) -> Any:
    if not raw.strip():
        return None
    if "json" in content_type or raw[:1] in (b"{", b"["):
        try:
            return jsoncodec.loads(raw)
        except ValueError:
            pass
    return raw.decode("utf-8", "replace")
