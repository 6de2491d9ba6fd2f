"""The `[plugins.escalation]` table: the responders, the rule a work item must match, links and timings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from bots.config_checks import template

if TYPE_CHECKING:
    from .item import WorkItem

__all__ = ["MAX_RESPONDERS", "URL_FIELDS", "EscalationConfig", "Rule"]

MAX_RESPONDERS = 16
"""DevRev's limit on the users of a DM."""
URL_FIELDS = ("display_id", "id")


def _lowered(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(value).strip().lower() for value in values)


@attrs.frozen(kw_only=True)
class Rule:
    """`[plugins.escalation.rule]`: which work items are escalated (values compare without letter case).

    An item matches when its `priority` (issues: p0..p3) is in `priority` or its `severity` (tickets: blocker,
    high, medium, low) is in `severity`, and, when `stage` is not empty, its stage name is in `stage`.
    """

    priority: tuple[str, ...] = attrs.field(default=("p0", "p1"), converter=_lowered)
    severity: tuple[str, ...] = attrs.field(default=("blocker",), converter=_lowered)
    stage: tuple[str, ...] = attrs.field(default=(), converter=_lowered)

    def matches(self, item: WorkItem) -> bool:
        level = (item.priority is not None and item.priority in self.priority) or (
            item.severity is not None and item.severity in self.severity
        )
        return level and (not self.stage or (item.stage or "") in self.stage)


def _check_responders(_: Any, attribute: attrs.Attribute[Any], responders: tuple[str, ...]) -> None:
    if not 1 <= len(responders) <= MAX_RESPONDERS:
        raise ValueError(
            f"{attribute.name}: {len(responders)} users; a DevRev DM has 1 to {MAX_RESPONDERS}, the bot's own"
            " user included"
        )
    for index, responder in enumerate(responders):
        if not responder.strip():
            raise ValueError(
                f"{attribute.name}[{index}]: empty; give a dev user id (don:identity:...:devu/N)"
            )
    duplicates = sorted({r for r in responders if responders.count(r) > 1})
    if duplicates:
        raise ValueError(f"{attribute.name}: listed more than once: {', '.join(duplicates)}")


_check_url = template({name: name for name in URL_FIELDS})


def _check_minutes(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name}: {value!r} is negative; give minutes, or 0 to turn reminders off")


def _check_days(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name}: {value!r} must be a number of days above 0")


@attrs.frozen(kw_only=True)
class EscalationConfig:
    """`[plugins.escalation]`; `responders` is required."""

    responders: tuple[str, ...] = attrs.field(validator=_check_responders)
    """The DevRev dev user ids (`don:identity:...:devu/N`) of the DM, the bot's own user (its token's) included."""
    rule: Rule = Rule()
    item_url: str = attrs.field(default="https://app.devrev.ai/works/{display_id}", validator=_check_url)
    """The link in each summary; `{display_id}` (ISS-123) and `{id}` (the DON id) are filled in."""
    remind_after_minutes: float = attrs.field(default=60.0, validator=_check_minutes)
    """Post a reminder this long after the last escalation of an item that still matches; 0 turns it off."""
    remember_days: float = attrs.field(default=30.0, validator=_check_days)
    """How long the bot remembers items, their DM and what it posted (so re-sent events do nothing twice)."""

    def link(self, item: WorkItem) -> str:
        return self.item_url.format(display_id=item.display_id, id=item.id)
