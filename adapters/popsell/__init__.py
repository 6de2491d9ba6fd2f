"""The Popsell API v2 adapter: typed client, unified provider, and the framework's AdapterSpec.

Its emulator (`adapters.popsell.emulator`) is imported only when it is served: `ADAPTER.emulator` loads it.
"""

from __future__ import annotations

from aiohttp import web

from adapters.popsell.client import PopsellClient
from adapters.popsell.provider import PopsellConfig, PopsellProvider, build
from framework.adapter_registry import AdapterSpec, EmulatorOptions

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
)
