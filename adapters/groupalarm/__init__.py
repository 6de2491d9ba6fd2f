"""The GroupAlarm Messenger adapter: chatrooms of an organization through the unified chat API."""

from __future__ import annotations

from adapters.groupalarm.client import GroupAlarmClient
from adapters.groupalarm.emulator import create_app
from adapters.groupalarm.models import Chatroom, ChatroomPage, Paths, SentMessage
from adapters.groupalarm.provider import GroupAlarmConfig, GroupAlarmProvider, build_provider
from framework.adapter_registry import AdapterSpec

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
    "create_app",
]

ADAPTER = AdapterSpec(
    provider="groupalarm",
    config_type=GroupAlarmConfig,
    build=build_provider,
    emulator=create_app,
    emulator_prefix="/groupalarm",
    emulator_settings={"api_token": "test-api-token", "personal_access_token": None, "organization_id": 1},
)
