"""Config: a TOML file, `${ENV}` substituted, structured into attrs classes with cattrs.

Every problem is reported as `FILE: key.path: what was wrong (what was expected)`, and all problems of a file are
reported together. Relative paths in `sqlite:///` store URLs resolve against the config file's directory.
"""

from __future__ import annotations

import collections.abc
import os
import re
import tomllib
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

import attrs
import cattrs

from framework.adapter_registry import AdapterConfig, find_adapter
from framework.chat_commands import DEFAULT_COMMAND_PREFIX
from framework.errors import ConfigError
from framework.retries import HandlerRetry
from framework.schedules.config import ScheduleConfig, duplicate_ids
from framework.store.base import DEFAULT_HISTORY_AGE, DEFAULT_HISTORY_SIZE, DEFAULT_STEP_TTL
from framework.structuring import structure_section
from framework.suggest import closest
from framework.tracing import TracingConfig
from framework.triggers.webhook_routes import DEFAULT_READ_TIMEOUT, WebhookRoute, routes_errors
from framework.triggers.webhook_routes import configure_converter as configure_verify

__all__ = [
    "Config",
    "LoggingConfig",
    "PluginsConfig",
    "ServiceConfig",
    "StoreConfig",
    "load_config",
    "structure_section",
]

T = TypeVar("T")


def _not_blank(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not value.strip():
        # An empty token would let `Authorization: Bearer` with no token in.
        raise ValueError(
            f"{attribute.name}: empty; is its ${{ENV}} variable unset? Set a long random token, or remove the key"
        )


@attrs.frozen(kw_only=True)
class ServiceConfig:
    """`[service]`: where the service listens and how it handles events."""

    host: str = "127.0.0.1"
    port: int = attrs.field(default=8080, validator=[attrs.validators.ge(0), attrs.validators.le(65535)])
    concurrency: int = attrs.field(default=64, validator=attrs.validators.ge(1))
    """Events handled at the same time, at most."""
    max_share: float = attrs.field(default=0.5, validator=[attrs.validators.gt(0), attrs.validators.le(1)])
    """A plugin holding this share of `concurrency` gives the next free handler slot to other plugins' events."""
    webhook_backlog: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(0))
    )
    """Events this process appended that may wait in the inbox before a new webhook's answer waits for fewer
    (framework.worker.Worker.intake); unset: `concurrency`; 0: never wait."""
    drain_timeout: float = attrs.field(default=10.0, validator=attrs.validators.ge(0))
    """Seconds SIGTERM waits for in-flight handlers before leaving them in the inbox."""
    handler_timeout: float | None = 300.0
    lease: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    poll_interval: float = attrs.field(default=0.5, validator=attrs.validators.gt(0))
    steps: bool = True
    """Every effect a handler makes through ctx.chats or ctx.step is a step, done once in effect (framework.steps)."""
    step_ttl: float = attrs.field(default=DEFAULT_STEP_TTL, validator=attrs.validators.gt(0))
    """Seconds a step record may outlive its acked event on Redis (a late write); records otherwise go with it."""
    read_timeout: float = attrs.field(default=DEFAULT_READ_TIMEOUT, validator=attrs.validators.gt(0))
    """Seconds a webhook's body may take to arrive once its headers are in; a slower one is answered 408."""
    idle_timeout: float = attrs.field(default=75.0, validator=attrs.validators.gt(0))
    """Seconds a connection may go without a complete request line and headers (idle, or a slow sender)."""
    admin_token: str | None = attrs.field(default=None, repr=False, validator=_not_blank)
    """When set, the admin API needs `Authorization: Bearer <token>`; else it answers this machine only."""
    admin_open: bool = False
    """Without admin_token, answer the admin API to anyone who can reach the service (framework.admin.access)."""
    log_level: str = attrs.field(
        default="INFO", validator=attrs.validators.in_(["DEBUG", "INFO", "WARNING", "ERROR"])
    )
    event_loop: str = attrs.field(
        default="auto", validator=attrs.validators.in_(["auto", "uvloop", "asyncio"])
    )
    """"auto" runs the service on uvloop when it is installed (the `fast` extra), else on asyncio's loop."""
    gc: str = attrs.field(default="tuned", validator=attrs.validators.in_(["tuned", "python"]))
    """"tuned": fewer young garbage collections and start-up objects frozen (framework.gc_tuning)."""


@attrs.frozen(kw_only=True)
class StoreConfig:
    """`[store]`: where the inbox, dedupe keys, state and schedules live."""

    url: str = attrs.field(
        default="sqlite:///chatwright.db", validator=lambda _, __, value: _check_store_url(value)
    )
    history_size: int = attrs.field(default=DEFAULT_HISTORY_SIZE, validator=attrs.validators.ge(0))
    """The newest finished attempts the event history keeps (the admin console's events); 0 keeps none."""
    history_age: float = attrs.field(default=DEFAULT_HISTORY_AGE, validator=attrs.validators.gt(0))
    """Seconds a finished attempt stays in the event history."""


def _check_store_url(url: str) -> None:
    if not url.startswith(("sqlite://", "redis://", "rediss://")):
        raise ValueError(
            f"url: {url!r} is not a store URL; expected sqlite:///PATH.db or redis://HOST:PORT/DB"
        )


LOG_FORMATS = ("text", "json")


def _log_format(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in LOG_FORMATS:
        raise ValueError(f'{attribute.name}: unknown format {value!r}; expected "text" or "json"')


@attrs.frozen(kw_only=True)
class LoggingConfig:
    """`[logging]`: how `chatwright run` and `emit` write their log to standard error."""

    format: str = attrs.field(default="text", validator=_log_format)
    """"text" (a line per record) or "json" (a JSON object per line: framework.logs.JsonFormatter)."""


@attrs.frozen(kw_only=True)
class PluginsConfig:
    """`[plugins]`: which modules to load, and each plugin's own table (`[plugins.NAME]`)."""

    modules: tuple[str, ...] = ()
    entry_points: bool = True
    """Also load plugins registered under the entry-point group `chatwright.plugins`."""
    settings: dict[str, dict[str, Any]] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConversationsConfig:
    """`[conversations]`: chat commands and the polling of chats whose provider does not push messages."""

    command_prefix: str = DEFAULT_COMMAND_PREFIX
    """What a `@plugin.command` starts with, unless it names its own prefix ("" for none)."""
    poll_interval: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))
    """Seconds between two polls of an adapter's watched chats (one poll per interval for all replicas)."""
    poll_concurrency: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    """Chats of one adapter polled at the same time, at most (the adapter's rate limit paces them all)."""
    poll: tuple[str, ...] | None = None
    """The adapters to poll; None: every adapter that can, unless a webhook route pushes its messages."""
    watch: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    """Chats watched beside those the bot created, by adapter; they are delivered from when first watched."""


@attrs.frozen(kw_only=True)
class Config:
    """A whole config file, structured."""

    path: Path
    file_name: str = ""
    """The file as the user named it, for messages."""
    service: ServiceConfig = attrs.field(factory=ServiceConfig)
    store: StoreConfig = attrs.field(factory=StoreConfig)
    retry: HandlerRetry = attrs.field(factory=HandlerRetry)
    adapters: dict[str, AdapterConfig] = attrs.field(factory=dict)
    webhooks: tuple[WebhookRoute, ...] = ()
    schedules: tuple[ScheduleConfig, ...] = ()
    plugins: PluginsConfig = attrs.field(factory=PluginsConfig)
    logging: LoggingConfig = attrs.field(factory=LoggingConfig)
    conversations: ConversationsConfig = attrs.field(factory=ConversationsConfig)
    tracing: TracingConfig = attrs.field(factory=TracingConfig)

    @property
    def name(self) -> str:
        return self.file_name or self.path.name


TOP_LEVEL_KEYS = (
    "service",
    "store",
    "retry",
    "adapters",
    "webhooks",
    "schedules",
    "plugins",
    "logging",
    "conversations",
    "tracing",
)
ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _strict_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {value!r}")


def _strict_str(value: Any, _: type) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()  # an unquoted TOML date-time, e.g. at = 2025-06-01T08:00:00Z
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string, got {type(value).__name__}")


def _strict_number(kind: type) -> Callable[[Any, type], Any]:
    def structure(value: Any, _: type) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            return kind(value)
        except ValueError:
            raise ValueError(
                f"expected {'an integer' if kind is int else 'a number'}, got {value!r}"
            ) from None

    return structure


def make_converter() -> cattrs.Converter:
    """The config converter: unknown keys are errors, booleans and numbers are not guessed from strings."""
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(bool, _strict_bool)
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(int, _strict_number(int))
    converter.register_structure_hook(float, _strict_number(float))
    configure_verify(converter)
    _refuse_strings_for_lists(converter)
    return converter


def _refuse_strings_for_lists(converter: cattrs.Converter) -> None:
    """A TOML string where a list is expected (`modules = "bots.x"`) is an error, not a list of characters."""
    base = converter.copy()
    sequences: tuple[Any, ...] = (tuple, list, set, frozenset, collections.abc.Sequence, collections.abc.Set)

    def refuse_strings(cls: Any) -> Callable[[Any, Any], Any]:
        structure_items = base.get_structure_hook(cls)

        def structure(value: Any, _: Any) -> Any:
            if isinstance(value, str | bytes):
                raise ValueError(f"expected a list, got the string {value!r}; write [{value!r}]")
            return structure_items(value, cls)

        return structure

    def is_sequence(cls: Any) -> bool:
        return (typing.get_origin(cls) or cls) in sequences

    converter.register_structure_hook_factory(is_sequence, refuse_strings)


def substitute_env(
    value: Any, environ: Mapping[str, str], where: str, problems: list[str], file_name: str
) -> Any:
    """Replace `${NAME}` (or `${NAME:-default}`) in every string; a missing variable is a problem naming it."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            problems.append(f"{file_name}: {where}: environment variable {name} is not set")
            return ""

        return ENV_PATTERN.sub(replace, value)
    if isinstance(value, dict):
        return {
            key: substitute_env(item, environ, f"{where}.{key}" if where else key, problems, file_name)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            substitute_env(item, environ, f"{where}[{i}]", problems, file_name)
            for i, item in enumerate(value)
        ]
    return value


def _resolve_store_url(url: str, base: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////") and url[len(prefix) :] != ":memory:":
        return f"sqlite:///{(base / url[len(prefix) :]).resolve()}"
    return url


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, substitute and structure a config file; raises ConfigError listing every problem found."""
    file = Path(path)
    file_name = str(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{file_name}: cannot read: {error.strerror or error}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{file_name}: not valid TOML: {error}") from None
    return config_from_dict(raw, file.resolve(), file_name, os.environ if environ is None else environ)


def config_from_dict(raw: dict[str, Any], path: Path, file_name: str, environ: Mapping[str, str]) -> Config:
    problems: list[str] = []
    unknown = sorted(set(raw) - set(TOP_LEVEL_KEYS))
    if unknown:
        hints = [(key, match) for key in unknown if (match := closest(key, TOP_LEVEL_KEYS))]
        named = [match if len(unknown) == 1 else f"{match} for {key}" for key, match in hints]
        hint = f" (did you mean {', '.join(named)}?)" if named else ""
        problems.append(
            f"{file_name}: unknown section(s) {', '.join(unknown)}{hint}; expected {', '.join(TOP_LEVEL_KEYS)}"
        )
    raw = substitute_env(raw, environ, "", problems, file_name)
    converter = make_converter()

    def section(key: str, kind: type[T], default: T) -> T:
        if key not in raw:
            return default
        if not isinstance(raw[key], dict):
            problems.append(f"{file_name}: {key}: expected a table ([{key}])")
            return default
        value, found = structure_section(converter, raw[key], kind, key, file_name)
        problems.extend(found)
        return default if value is None else value

    service = section("service", ServiceConfig, ServiceConfig())
    store = section("store", StoreConfig, StoreConfig())
    store = attrs.evolve(store, url=_resolve_store_url(store.url, path.parent))
    retry = section("retry", HandlerRetry, HandlerRetry())
    logging_config = section("logging", LoggingConfig, LoggingConfig())
    conversations = section("conversations", ConversationsConfig, ConversationsConfig())
    tracing = section("tracing", TracingConfig, TracingConfig())

    plugins_raw = raw.get("plugins", {})
    plugins = PluginsConfig()
    if not isinstance(plugins_raw, dict):
        problems.append(f"{file_name}: plugins: expected a table ([plugins])")
    else:
        settings = {k: v for k, v in plugins_raw.items() if isinstance(v, dict)}
        base = {k: v for k, v in plugins_raw.items() if not isinstance(v, dict)}
        structured, found = structure_section(converter, base, PluginsConfig, "plugins", file_name)
        problems.extend(found)
        if structured is not None:
            plugins = attrs.evolve(structured, settings=settings)

    adapters: dict[str, AdapterConfig] = {}
    adapters_raw = raw.get("adapters", {})
    if not isinstance(adapters_raw, dict):
        problems.append(f"{file_name}: adapters: expected tables ([adapters.NAME])")
        adapters_raw = {}
    for name, table in adapters_raw.items():
        where = f"adapters.{name}"
        if not isinstance(table, dict):
            problems.append(f"{file_name}: {where}: expected a table ([{where}])")
            continue
        provider = table.get("provider")
        if not isinstance(provider, str) or not provider:
            problems.append(f'{file_name}: {where}.provider: missing; e.g. provider = "roostedhr"')
            continue
        try:
            spec = find_adapter(provider)
        except ConfigError as error:
            problems.append(f"{file_name}: {where}.provider: {error}")
            continue
        adapter_config, found = structure_section(converter, table, spec.config_type, where, file_name)
        problems.extend(found)
        if adapter_config is not None:
            adapters[name] = adapter_config

    webhooks: list[WebhookRoute] = []
    for index, table in enumerate(_array_of_tables(raw, "webhooks", file_name, problems)):
        route, found = structure_section(converter, table, WebhookRoute, f"webhooks[{index}]", file_name)
        problems.extend(found)
        if route is not None:
            webhooks.append(route)
    problems.extend(routes_errors(webhooks, f"{file_name}: "))

    schedules: list[ScheduleConfig] = []
    for index, table in enumerate(_array_of_tables(raw, "schedules", file_name, problems)):
        schedule, found = structure_section(
            converter, table, ScheduleConfig, f"schedules[{index}]", file_name
        )
        problems.extend(found)
        if schedule is not None:
            schedules.append(schedule)
    problems += duplicate_ids([schedule.id for schedule in schedules], f"{file_name}: schedules")

    if problems:
        raise ConfigError(problems)
    return Config(
        path=path,
        file_name=file_name,
        service=service,
        store=store,
        retry=retry,
        adapters=adapters,
        webhooks=tuple(webhooks),
        schedules=tuple(schedules),
        plugins=plugins,
        logging=logging_config,
        conversations=conversations,
        tracing=tracing,
    )


def _array_of_tables(
    raw: dict[str, Any], key: str, file_name: str, problems: list[str]
) -> list[dict[str, Any]]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        problems.append(f"{file_name}: {key}: expected an array of tables ([[{key}]])")
        return []
    return value
