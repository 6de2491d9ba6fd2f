"""The DevRev adapter: DM chats and their comments through the unified chat API.

Its emulator (`adapters.devrev.emulator`) is imported only when it is served: `ADAPTER.emulator` loads it.
"""

from __future__ import annotations

from aiohttp import web

from framework.adapter_registry import AdapterSpec, EmulatorOptions, ScaffoldTemplate

from .client import DEFAULT_BASE_URL, PROVIDER, DevRevClient
from .models import DevRevChat, TimelineEntry, TimelineEntryList, UserSummary
from .provider import DevRevConfig, DevRevProvider, build_provider

__all__ = [
    "ADAPTER",
    "DEFAULT_BASE_URL",
    "PROVIDER",
    "DevRevChat",
    "DevRevClient",
    "DevRevConfig",
    "DevRevProvider",
    "TimelineEntry",
    "TimelineEntryList",
    "UserSummary",
    "build_provider",
    "emulator",
]


def emulator(options: EmulatorOptions) -> web.Application:
    """The DevRev emulator app (`adapters.devrev.emulator.create_app`), imported on first use."""
    from .emulator import create_app

    return create_app(options)


ADAPTER: AdapterSpec[DevRevConfig] = AdapterSpec(
    provider=PROVIDER,
    config_type=DevRevConfig,
    build=build_provider,
    emulator=emulator,
    emulator_prefix="/devrev",
    emulator_settings={"token": "test-token"},  # the emulator's TEST_TOKEN
    scaffold=ScaffoldTemplate(
        adapter="devrev",
        env_prefix="DEVREV",
        table=(("token", "TOKEN", "test-token"),),
        # a DevRev DM includes the bot's own user (the emulator's devu/1)
        members=("don:identity:dvrv-us-1:devo/0:devu/1", "don:identity:dvrv-us-1:devo/0:devu/2"),
        create_path="/chats.create",
        message_key="body",
    ),
)
