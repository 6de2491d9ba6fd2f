"""The Popsell API v2 adapter: typed client, unified provider, and the framework's AdapterSpec.

Its emulator (`adapters.popsell.emulator`) is imported only when it is served: `ADAPTER.emulator` loads it.
"""

from __future__ import annotations

from aiohttp import web

from adapters.popsell.client import PopsellClient
from adapters.popsell.provider import PopsellConfig, PopsellProvider, build
from framework.adapter_registry import AdapterSpec, EmulatorOptions, ScaffoldTemplate

__all__ = ["ADAPTER", "PopsellClient", "PopsellConfig", "PopsellProvider", "emulator"]


def emulator(options: EmulatorOptions) -> web.Application:
    """The Popsell emulator app (`adapters.popsell.emulator.create_app`), imported on first use."""
    from adapters.popsell.emulator import create_app

    return create_app(options)


ADAPTER = AdapterSpec(
    provider="popsell",
    config_type=PopsellConfig,
    build=build,
    emulator=emulator,
    emulator_prefix="/popsell",
    emulator_settings={"api_key": "test-key"},
    scaffold=ScaffoldTemplate(
        adapter="popsell",
        env_prefix="POPSELL",
        table=(
            ("domain", "DOMAIN", "demo.popsell.test"),
            ("api_key", "API_KEY", "test-key"),
            ("brand_id", "BRAND_ID", "3"),
            ("sender_ambassador_id", "SENDER_AMBASSADOR_ID", "1"),
        ),
        members=("1", "4"),  # a Popsell chatroom holds exactly two ambassadors
        create_path="/chat/chatrooms",
        message_key="content",
    ),
)
