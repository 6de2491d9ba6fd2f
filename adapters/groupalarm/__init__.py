"""The GroupAlarm Messenger adapter: chatrooms of an organization through the unified chat API.

Its emulator (`adapters.groupalarm.emulator`) is imported only when it is served: `ADAPTER.emulator` loads it.
"""

from __future__ import annotations

from aiohttp import web

from adapters.groupalarm.client import GroupAlarmClient
from adapters.groupalarm.models import Chatroom, ChatroomPage, Paths, SentMessage
from adapters.groupalarm.provider import GroupAlarmConfig, GroupAlarmProvider, build_provider
from framework.adapter_registry import AdapterSpec, EmulatorOptions, ScaffoldTemplate

__all__ = [
    "ADAPTER",
    "Chatroom",
    "ChatroomPage",
    "GroupAlarmClient",
    "GroupAlarmConfig",
    "GroupAlarmProvider",
    "Paths",
    "SentMessage",
    "build_provider",
    "emulator",
]


def emulator(options: EmulatorOptions) -> web.Application:
    """The GroupAlarm emulator app (`adapters.groupalarm.emulator.create_app`), imported on first use."""
    from adapters.groupalarm.emulator import create_app

    return create_app(options)


ADAPTER = AdapterSpec(
    provider="groupalarm",
    config_type=GroupAlarmConfig,
    build=build_provider,
    emulator=emulator,
    emulator_prefix="/groupalarm",
    emulator_settings={"api_token": "test-api-token", "personal_access_token": None, "organization_id": 1},
    scaffold=ScaffoldTemplate(
        adapter="groupalarm",
        env_prefix="GROUPALARM",
        table=(("api_token", "API_TOKEN", "test-api-token"), ("organization_id", "ORGANIZATION_ID", "1")),
        members=("11",),
        create_path="/chatroom",
        message_key="message",
    ),
)
