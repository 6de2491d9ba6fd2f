"""What `chatwright run` loads in the processes benchmark: one `post_message` per `shift.published` webhook, on the
adapter named `roosted` (tests.benchmarks.plugins.post_plugin, as a module-level Plugin a config can name)."""

from __future__ import annotations

from tests.benchmarks.plugins import post_plugin

__all__ = ["plugin"]

plugin = post_plugin("roosted")
