"""The RoostedHR adapter (API 1_12): typed client, unified provider and emulator (`roostedhr`)."""

from __future__ import annotations

from framework.adapter_registry import AdapterSpec

from .client import DEFAULT_BASE_URL, PROVIDER, SANDBOX_BASE_URL, RoostedHRClient
from .emulator import create_app
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
    "create_app",
    "make_converter",
]


def _build(name: str, config: RoostedHRConfig) -> RoostedHRProvider:
    return build_provider(name, config)


ADAPTER: AdapterSpec[RoostedHRConfig] = AdapterSpec(
    provider=PROVIDER,
    config_type=RoostedHRConfig,
    build=_build,
    emulator=create_app,
    emulator_prefix="/roostedhr",
    emulator_settings={"api_key": "test-key"},
)
