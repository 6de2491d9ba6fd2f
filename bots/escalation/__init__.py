"""escalation: a DevRev DM among the responders, with a summary, for each work item change that matches a rule."""

from bots.escalation.plugin import plugin

__all__ = ["plugin"]
