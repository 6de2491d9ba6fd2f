"""The Popsell API v2 adapter: typed client, unified provider, emulator, and the framework's AdapterSpec."""

from __future__ import annotations

from adapters.popsell.client import PopsellClient
from adapters.popsell.emulator import create_app
from adapters.popsell.provider import PopsellConfig, PopsellProvider, build
from framework.adapter_registry import AdapterSpec

__all__ = ["ADAPTER", "PopsellClient", "PopsellConfig", "PopsellProvider", "create_app"]

ADAPTER = AdapterSpec(
    provider="popsell",
    config_type=PopsellConfig,
    build=build,
    emulator=create_app,
    emulator_prefix="/popsell",
    emulator_settings={"api_key": "test-key"},
)
