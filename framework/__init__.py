"""chatwright: chat automation across providers. The names a plugin author imports live here."""

from framework.chats import Capability, Chat, ChatProvider, Message
from framework.context import Context
from framework.dispatch import Middleware, NextHandler
from framework.errors import (
    AuthError,
    ChatwrightError,
    ConfigError,
    Conflict,
    InvalidEvent,
    InvalidRequest,
    NotFound,
    ProviderError,
    RateLimited,
    Unavailable,
    Unsupported,
)
from framework.events import Event, new_event
from framework.messages import ChatMessage
from framework.plugins import Plugin

__all__ = [
    "AuthError",
    "Capability",
    "Chat",
    "ChatMessage",
    "ChatProvider",
    "ChatwrightError",
    "ConfigError",
    "Conflict",
    "Context",
    "Event",
    "InvalidEvent",
    "InvalidRequest",
    "Message",
    "Middleware",
    "NextHandler",
    "NotFound",
    "Plugin",
    "ProviderError",
    "RateLimited",
    "Unavailable",
    "Unsupported",
    "new_event",
]
