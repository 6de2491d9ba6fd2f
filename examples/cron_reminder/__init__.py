"""Reminders posted on a schedule: `@plugin.cron` in code and `[[schedules]]` in config."""
