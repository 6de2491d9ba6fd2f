"""The RoostedHR adapter (API 1_12): typed client and unified provider (`roostedhr`).

Its emulator (`adapters.roostedhr.emulator`) is imported only when it is served: `ADAPTER.emulator` loads it.
"""

from __future__ import annotations

from aiohttp import web

from framework.adapter_registry import AdapterSpec, EmulatorOptions, ScaffoldTemplate

from .client import DEFAULT_BASE_URL, PROVIDER, SANDBOX_BASE_URL, RoostedHRClient
from .models import ChatMember, ChatPage, MessagePage, RoostedChat, RoostedMessage, make_converter
from .provider import RoostedHRConfig, RoostedHRProvider, build_provider

__all__ = [
    "ADAPTER",
    "DEFAULT_BASE_URL",
    "PROVIDER",
    "SANDBOX_BASE_URL",
    "ChatMember",
    "ChatPage",
    "MessagePage",
    "RoostedChat",
    "RoostedHRClient",
    "RoostedHRConfig",
    "RoostedHRProvider",
    "RoostedMessage",
    "build_provider",
    "emulator",
    "make_converter",
]


def emulator(options: EmulatorOptions) -> web.Application:
    """The RoostedHR emulator app (`adapters.roostedhr.emulator.create_app`), imported on first use."""
    from .emulator import create_app

    return create_app(options)


def _build(name: str, config: RoostedHRConfig) -> RoostedHRProvider:
    return build_provider(name, config)


ADAPTER: AdapterSpec[RoostedHRConfig] = AdapterSpec(
    provider=PROVIDER,
    config_type=RoostedHRConfig,
    build=_build,
    emulator=emulator,
    emulator_prefix="/roostedhr",
    emulator_settings={"api_key": "test-key"},
    scaffold=ScaffoldTemplate(
        adapter="roosted",
        env_prefix="ROOSTED",
        table=(("api_key", "API_KEY", "test-key"), ("worker_id", "WORKER_ID", "3158")),
        members=("120915",),
        create_path="/workers/3158/chats",
        message_key="message",
    ),
)
