"""shiftchat: a RoostedHR worker chat per published shift, kept in line with the shift and reminded before it."""

from bots.shiftchat.plugin import plugin

__all__ = ["plugin"]
