"""Triggers: the ways events enter the inbox (webhooks with their signature schemes, schedules)."""
