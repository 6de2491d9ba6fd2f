"""The one error hierarchy: everything chatwright raises on purpose is a ChatwrightError."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "AuthError",
    "ChatwrightError",
    "ConfigError",
    "Conflict",
    "InvalidEvent",
    "InvalidRequest",
    "NotFound",
    "PluginLoadError",
    "ProviderError",
    "RateLimited",
    "StoreOverloaded",
    "Unavailable",
    "Unsupported",
]


class ChatwrightError(Exception):
    """Base of every error chatwright raises on purpose."""


class ConfigError(ChatwrightError):
    """A config file (or the wiring it describes) is wrong; `problems` lists every finding.

    Each problem reads `file: key.path: what was wrong; what was expected`.
    """

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems: tuple[str, ...] = (problems,) if isinstance(problems, str) else tuple(problems)
        super().__init__("\n".join(self.problems))


class PluginLoadError(ConfigError):
    """A plugin module could not be imported or exposes no Plugin."""


class StoreOverloaded(ChatwrightError):
    """The store has more writes queued than it takes: a new event is refused for now (the webhook intake answers
    503 with `Retry-After`, which a sender retries), so overload pushes back instead of growing memory."""

    def __init__(self, queued: int, retry_after: float = 1.0) -> None:
        self.queued = queued
        self.retry_after = retry_after
        super().__init__(f"the store has {queued} writes queued; try again in {retry_after:g} s")


class InvalidEvent(ChatwrightError, ValueError):
    """A handler found the event itself malformed: retrying cannot help, so it is dead-lettered at once."""


class ProviderError(ChatwrightError):
    """A provider answered with an error (or could not be reached).

    `status` is the HTTP status (0 when no answer came), `code` the provider's own error code or type,
    `message` the provider's message, `retryable` whether trying again later may succeed, and
    `retry_after` the seconds the provider asked us to wait, when it said. `may_have_acted` says whether the
    provider may have carried the call out anyway (a 5xx, a timeout, a lost answer): a handler retrying a call
    that is not safe to repeat checks first whether it landed. Refusals and 429s did not act.
    """

    default_retryable = False
    may_have_acted = True

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int = 0,
        code: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        self.provider = provider
        self.status = status
        self.code = code
        self.message = message
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after
        self.body = body
        prefix = f"{provider}: " if provider else ""
        status_text = f"HTTP {status}: " if status else ""
        code_text = f"[{code}] " if code else ""
        super().__init__(f"{prefix}{status_text}{code_text}{message}")


class AuthError(ProviderError):
    """The provider rejected our credentials (401) or our permissions (403)."""

    may_have_acted = False


class NotFound(ProviderError):
    """The chat, message or user does not exist at the provider."""

    may_have_acted = False


class Conflict(ProviderError):
    """The provider refused because the thing already exists (e.g. a duplicate DevRev DM)."""

    may_have_acted = False


class InvalidRequest(ProviderError):
    """The request is invalid; `field_errors` maps each bad field to what is wrong with it."""

    may_have_acted = False

    def __init__(
        self,
        message: str,
        *,
        field_errors: Mapping[str, Sequence[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.field_errors: dict[str, list[str]] = {k: list(v) for k, v in (field_errors or {}).items()}
        super().__init__(message, **kwargs)


class RateLimited(ProviderError):
    """The provider asked us to slow down (429); `retry_after` says for how long when known."""

    default_retryable = True
    may_have_acted = False


class Unavailable(ProviderError):
    """The provider failed (5xx), timed out, or could not be reached."""

    default_retryable = True


class Unsupported(ProviderError):
    """The provider has no such operation (e.g. renaming a Popsell chatroom)."""

    may_have_acted = False

    def __init__(self, provider: str, operation: str, reason: str = "") -> None:
        self.operation = operation
        why = f": {reason}" if reason else ""
        super().__init__(f"{operation} is not supported by {provider}{why}", provider=provider)
