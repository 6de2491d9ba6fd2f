"""ambassador: a Popsell one-to-one chatroom, a welcome and a follow-up for each customer-ambassador match."""

from bots.ambassador.plugin import plugin

__all__ = ["plugin"]
