"""What the adapters share to refuse a `create_chat` / `find_chat` option their provider does not take."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from framework.errors import InvalidRequest

__all__ = ["refuse_unknown"]


def refuse_unknown(
    provider: str, operation: str, options: Mapping[str, Any], accepted: Collection[str]
) -> None:
    """Raise `InvalidRequest` naming each option outside `accepted`, before anything reaches the provider."""
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        takes = ", ".join(sorted(accepted)) if accepted else "no options, only name and members"
        why = f"unknown option; {provider} {operation} takes {takes}"
        raise InvalidRequest(
            f"{operation}: unknown options {', '.join(unknown)}",
            field_errors={option: [why] for option in unknown},
            provider=provider,
        )
