"""DevRev work items as the escalation bot reads them from webhook bodies, and the texts it posts about them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs

from framework.payloads import NonEmptyStr

__all__ = [
    "InvalidPayload",
    "TimelineEntryCreated",
    "WorkItem",
    "WorkUpdated",
    "changes",
    "comment_reason",
    "is_older",
    "parse_work",
    "reminder_text",
    "summary_text",
]

TITLE_LIMIT = 120
"""Longer item titles are cut in DM titles and headings."""
SNIPPET_LIMIT = 280
"""Longer comments are cut in the summary that relays them."""


class InvalidPayload(ValueError):
    """A webhook body the bot cannot act on; the message says which field is wrong."""


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _date(value: Any) -> str | None:
    """A DevRev date (`2023-01-01T12:00:00.000Z`) as a UTC ISO string; None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace(" ", "T").upper())
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def user_name(user: Any) -> str:
    """A DevRev user summary's name: full name, display name, or id."""
    if isinstance(user, dict):
        for key in ("full_name", "display_name", "display_id", "id"):
            if isinstance(user.get(key), str) and user[key].strip():
                return str(user[key]).strip()
    return "someone"


@attrs.frozen(kw_only=True)
class WorkItem:
    """What the bot keeps of a DevRev work item (issue, ticket ...)."""

    id: str
    display_id: str
    title: str
    type: str = ""
    priority: str | None = None
    severity: str | None = None
    stage: str | None = None
    owners: tuple[str, ...] = ()
    modified: str | None = None
    """`modified_date` as a UTC ISO string, to tell a newer update from an older or repeated one."""

    @property
    def level_name(self) -> str:
        return "Priority" if self.priority is not None else "Severity"

    @property
    def level(self) -> str:
        """`P0` / `BLOCKER`: the priority of an issue, else the severity of a ticket."""
        return (self.priority or self.severity or "?").upper()

    @property
    def heading(self) -> str:
        """`[P0] ISS-123 Checkout fails`: the DM's title and the first line of every summary."""
        return f"[{self.level}] {self.display_id} {_short(self.title, TITLE_LIMIT)}".rstrip()

    def to_state(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "owners": list(self.owners)}

    @classmethod
    def from_state(cls, raw: dict[str, Any]) -> WorkItem:
        names = {field.name for field in attrs.fields(cls)}
        values = {key: value for key, value in raw.items() if key in names}
        return cls(**{**values, "owners": tuple(values.get("owners", ()))})


def _text(work: dict[str, Any], key: str) -> str | None:
    value = work.get(key)
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def parse_work(work: Any, where: str) -> WorkItem:
    """A work object of a webhook body (`work_updated.work`); raises InvalidPayload naming the bad field."""
    if not isinstance(work, dict):
        raise InvalidPayload(f"{where}: missing or not an object")
    item_id = work.get("id")
    if not isinstance(item_id, str) or not item_id.strip():
        raise InvalidPayload(f"{where}.id: expected the work item's id, got {item_id!r}")
    display_id = work.get("display_id")
    title = work.get("title")
    stage = work.get("stage")
    stage_name = stage.get("name") if isinstance(stage, dict) else stage
    owners = work.get("owned_by")
    return WorkItem(
        id=item_id.strip(),
        display_id=display_id.strip()
        if isinstance(display_id, str) and display_id.strip()
        else item_id.strip(),
        title=" ".join(title.split()) if isinstance(title, str) else "",
        type=kind if isinstance(kind := work.get("type"), str) else "",
        priority=_text(work, "priority"),
        severity=_text(work, "severity"),
        stage=stage_name.strip() if isinstance(stage_name, str) and stage_name.strip() else None,
        owners=tuple(user_name(owner) for owner in owners) if isinstance(owners, list) else (),
        modified=_date(work.get("modified_date")),
    )


@attrs.frozen
class WorkRef:
    """What every work object of a body has: its id (the rest is read leniently by `parse_work`)."""

    id: NonEmptyStr


@attrs.frozen
class WorkUpdate:
    work: WorkRef
    old_work: WorkRef | None = None


@attrs.frozen
class WorkUpdated:
    """The payload of DevRev's `work_updated`: `{"work_updated": {"work": {...}, "old_work": {...}}}`."""

    work_updated: WorkUpdate


@attrs.frozen
class Entry:
    id: NonEmptyStr
    type: str
    object: str | None = None


@attrs.frozen
class EntryCreated:
    entry: Entry


@attrs.frozen
class TimelineEntryCreated:
    """The payload of DevRev's `timeline_entry_created`: `{"timeline_entry_created": {"entry": {...}}}`."""

    timeline_entry_created: EntryCreated


def is_older(item: WorkItem, known: WorkItem) -> bool:
    """Whether `item` is an update older than the one the bot already saw (DevRev may deliver out of order)."""
    return item.modified is not None and known.modified is not None and item.modified < known.modified


def changes(old: WorkItem, new: WorkItem) -> list[str]:
    """What changed that a summary shows: the priority or severity, the stage, the title."""
    found = []
    if (old.priority, old.severity) != (new.priority, new.severity):
        found.append(f"{new.level_name.lower()} {old.level} -> {new.level}")
    if old.stage != new.stage:
        found.append(f"stage {old.stage or 'none'} -> {new.stage or 'none'}")
    if old.title != new.title:
        found.append("title changed")
    return found


def comment_reason(entry: dict[str, Any]) -> str:
    body = entry.get("body")
    text = _short(body, SNIPPET_LIMIT) if isinstance(body, str) and body.strip() else "(no text)"
    return f'new comment by {user_name(entry.get("created_by"))}: "{text}"'


def _facts(item: WorkItem) -> str:
    facts = [f"{item.level_name}: {item.level}", f"Stage: {item.stage or 'none'}"]
    if item.owners:
        facts.append(f"Owner{'s' if len(item.owners) > 1 else ''}: {', '.join(item.owners)}")
    return " | ".join(facts)


def summary_text(item: WorkItem, reason: str, link: str) -> str:
    """The comment posted in the DM for one escalation."""
    return f"Escalation: {item.heading}\n{_facts(item)}\nWhy: {reason}\n{link}"


def reminder_text(item: WorkItem, minutes: int, link: str) -> str:
    """The comment posted when an escalated item still matches the rule a while later."""
    return f"Reminder: {item.heading} still needs attention, {minutes} min after its escalation.\n{_facts(item)}\n{link}"
