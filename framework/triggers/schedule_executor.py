"""The job function every stored schedule job names (`framework.triggers.schedule_executor:fire_placeholder`).

Stored jobs name this function by its path, so it stays here for the jobs of every version to restore; the
schedules themselves live in framework.schedules.
"""

from __future__ import annotations

from typing import Any

__all__ = ["fire_placeholder"]


def fire_placeholder(**_: Any) -> None:
    """The job function APScheduler keeps for each job; the processing pass appends events instead of calling it."""
