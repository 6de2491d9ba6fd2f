"""How the framework finds adapters: AdapterSpec, the common AdapterConfig, and lookup by provider name.

Adapters are found through the entry-point group `chatwright.adapters` (the four built-in ones are registered
there by pyproject.toml), or by a `module:attribute` path in `provider = ...` for an adapter of your own.
The framework never imports `adapters/` directly, so the import graph runs one way.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

import attrs
from aiohttp import web

from framework.chats import ChatProvider, InDoubtPolicy
from framework.errors import ConfigError
from framework.http import CallObserver, HttpSettings, Limiter, RetryPolicy
from framework.loading import importable_from

__all__ = [
    "AdapterConfig",
    "AdapterSpec",
    "EmulatorOptions",
    "ScaffoldTemplate",
    "available_providers",
    "find_adapter",
]

ENTRY_POINT_GROUP = "chatwright.adapters"


def _in_doubt(value: Any) -> InDoubtPolicy:
    try:
        return InDoubtPolicy(value)
    except ValueError:
        choices = ", ".join(repr(policy.value) for policy in InDoubtPolicy)
        raise ValueError(f"in_doubt: {value!r}; expected one of {choices}") from None


@attrs.frozen(kw_only=True)
class AdapterConfig:
    """Keys every `[adapters.NAME]` table has; each adapter extends it with its own (kw_only) fields."""

    provider: str
    base_url: str
    timeout: float = 15.0
    retries: int = 4
    """Tries per call, the first included."""
    rate_limit: float | None = None
    """Requests per second sent to this provider at most: by the whole service when the store is shared
    (Redis), else by this process."""
    concurrency: int | None = attrs.field(default=None)
    """Requests in flight to this provider at once, at most (None: no bound)."""
    in_doubt: InDoubtPolicy = attrs.field(default=InDoubtPolicy.REPEAT, converter=_in_doubt)
    """What a step in doubt does where this provider cannot read back whether it took effect (framework.steps)."""

    limiter: Limiter | None = attrs.field(default=None, init=False, eq=False, repr=False)
    """The shared limiter the runtime attached (`with_limiter`); not a config key."""
    observer: CallObserver | None = attrs.field(default=None, init=False, eq=False, repr=False)
    """The metrics the runtime attached (`with_observer`); not a config key."""

    @concurrency.validator
    def _check_concurrency(self, _: Any, value: int | None) -> None:
        if value is not None and value < 1:
            raise ValueError(f"concurrency: {value!r}; expected 1 or more")

    def with_limiter(self, limiter: Limiter | None) -> Self:
        """A copy whose `http_settings()` paces through `limiter` (one shared by every replica)."""
        copy = attrs.evolve(self)
        object.__setattr__(copy, "limiter", limiter)
        object.__setattr__(copy, "observer", self.observer)
        return copy

    def with_observer(self, observer: CallObserver | None) -> Self:
        """A copy whose `http_settings()` reports each request to `observer` (the runtime's metrics)."""
        copy = attrs.evolve(self)
        object.__setattr__(copy, "limiter", self.limiter)
        object.__setattr__(copy, "observer", observer)
        return copy

    def http_settings(self) -> HttpSettings:
        return HttpSettings(
            timeout=self.timeout,
            retry=RetryPolicy(attempts=self.retries),
            rate_limit=self.rate_limit,
            concurrency=self.concurrency,
            limiter=self.limiter,
            observer=self.observer,
        )


@attrs.frozen(kw_only=True)
class EmulatorOptions:
    """Fault injection for an emulator: added latency, a share of 5xx answers, a rate limit (requests/s)."""

    latency: float = 0.0
    error_rate: float = 0.0
    rate_limit: float | None = None
    seed: int | None = None


@attrs.frozen(kw_only=True)
class ScaffoldTemplate:
    """What `chatwright new` needs to know about a provider: the adapter table against the local emulator
    (the defaults the README and the bots use), members the emulator knows, and what the test expects."""

    adapter: str
    env_prefix: str
    table: tuple[tuple[str, str, str], ...]
    """(key, environment variable suffix, emulator default) of the adapter table, after provider and base_url."""
    members: tuple[str, ...]
    create_path: str
    message_key: str


ConfigT = TypeVar("ConfigT", bound=AdapterConfig)


@attrs.frozen
class AdapterSpec(Generic[ConfigT]):
    """Everything the framework needs to know about one provider adapter."""

    provider: str
    config_type: type[ConfigT]
    build: Callable[[str, ConfigT], ChatProvider]
    """Called with the adapter's configured name and its structured config."""
    emulator: Callable[[EmulatorOptions], web.Application] | None = None
    """Builds the provider's local emulator, served by `chatwright emulate`."""
    emulator_prefix: str = ""
    """Where the emulator is mounted under `chatwright emulate` (e.g. `/roostedhr`)."""
    emulator_settings: Mapping[str, Any] = attrs.field(factory=dict)
    """Config values (credentials, acting user) that the emulator accepts; the testing kit applies them."""
    scaffold: ScaffoldTemplate | None = None
    """What `chatwright new --provider NAME` writes for this provider; None: it cannot be scaffolded for."""


def available_providers() -> dict[str, AdapterSpec[Any]]:
    """Every adapter registered under the entry-point group, by provider name."""
    found: dict[str, AdapterSpec[Any]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        spec = entry.load()
        if isinstance(spec, AdapterSpec):
            found[entry.name] = spec
    return found


def find_adapter(provider: str) -> AdapterSpec[Any]:
    """The adapter named `provider`: a registered name, or `package.module:ATTRIBUTE` for your own."""
    if ":" in provider:
        importable_from(Path.cwd())  # the same lookup as plugin modules
        module_name, _, attribute = provider.partition(":")
        try:
            spec = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            raise ConfigError(f"cannot load adapter {provider!r}: {type(error).__name__}: {error}") from None
        if not isinstance(spec, AdapterSpec):
            raise ConfigError(f"{provider!r} is not an AdapterSpec")
        return spec
    # Only the named entry point is loaded: the other adapters' packages stay unimported.
    for entry in entry_points(group=ENTRY_POINT_GROUP, name=provider):
        spec = entry.load()
        if isinstance(spec, AdapterSpec):
            return spec
    known = ", ".join(sorted(available_providers())) or "none installed"
    raise ConfigError(f"unknown provider {provider!r}; expected one of: {known}, or module:ATTRIBUTE")
