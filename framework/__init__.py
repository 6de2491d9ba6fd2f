"""chatwright: chat automation across providers. The names a plugin author imports live here."""

from framework.chats import Capability, Chat, ChatProvider, Message
from framework.errors import (
    AuthError,
    ChatwrightError,
    ConfigError,
    Conflict,
    InvalidRequest,
    NotFound,
    ProviderError,
    RateLimited,
    Unavailable,
    Unsupported,
)
from framework.events import Event, new_event

__all__ = [
    "AuthError",
    "Capability",
    "Chat",
    "ChatProvider",
    "ChatwrightError",
    "ConfigError",
    "Conflict",
    "Event",
    "InvalidRequest",
    "Message",
    "NotFound",
    "ProviderError",
    "RateLimited",
    "Unavailable",
    "Unsupported",
    "new_event",
]
