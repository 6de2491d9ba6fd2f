"""eventrooms: a GroupAlarm chatroom per started alarm, and a daily digest in the organization's default room."""

from bots.eventrooms.plugin import plugin

__all__ = ["plugin"]
