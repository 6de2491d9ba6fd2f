"""The DevRev adapter: DM chats and their comments through the unified chat API, plus a local emulator."""

from __future__ import annotations

from framework.adapter_registry import AdapterSpec

from .client import DEFAULT_BASE_URL, PROVIDER, DevRevClient
from .emulator import TEST_TOKEN, TEST_USER_ID, create_app
from .models import DevRevChat, TimelineEntry, TimelineEntryList, UserSummary
from .provider import DevRevConfig, DevRevProvider, build_provider

__all__ = [
    "ADAPTER",
    "DEFAULT_BASE_URL",
    "PROVIDER",
    "TEST_TOKEN",
    "TEST_USER_ID",
    "DevRevChat",
    "DevRevClient",
    "DevRevConfig",
    "DevRevProvider",
    "TimelineEntry",
    "TimelineEntryList",
    "UserSummary",
    "build_provider",
    "create_app",
]

ADAPTER: AdapterSpec[DevRevConfig] = AdapterSpec(
    provider=PROVIDER,
    config_type=DevRevConfig,
    build=build_provider,
    emulator=create_app,
    emulator_prefix="/devrev",
    emulator_settings={"token": TEST_TOKEN},
)
