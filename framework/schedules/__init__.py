"""Schedules, the second way events enter the inbox: config, the service, its processing pass and job stores."""
