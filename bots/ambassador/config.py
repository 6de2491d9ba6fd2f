"""The `[plugins.ambassador]` table and the `match.created` body the ambassador bot reads."""

from __future__ import annotations

from typing import Any

import attrs

from bots.config_checks import template
from framework.payloads import Id, PositiveId

__all__ = ["POST_AS", "TEMPLATE_FIELDS", "AmbassadorConfig", "FollowUp", "Match", "MatchCreated"]

TEMPLATE_FIELDS = ("customer_name", "first_name", "match_id")
"""What a message template may use: `{customer_name}`, `{first_name}` (its first word) and `{match_id}`."""
POST_AS = ("sender", "ambassador")


check_template = template(
    {name: name.replace("_", " ") for name in TEMPLATE_FIELDS},
    empty_hint="give a text such as 'Hi {first_name}, welcome!'",
)
"""Refuses, when the config is read, a template that is empty, malformed or names an unknown field."""


def check_post_as(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in POST_AS:
        raise ValueError(f'{attribute.name}: {value!r} is not one of "sender", "ambassador"')


@attrs.frozen(kw_only=True)
class AmbassadorConfig:
    """`[plugins.ambassador]`; every key has a default."""

    welcome: str = attrs.field(
        default="Hi {first_name}, welcome! I am your ambassador: ask me anything about our products, "
        "how I use them, or what would suit you best.",
        validator=check_template,
    )
    """Posted once in each new chatroom."""
    post_as: str = attrs.field(default="sender", validator=check_post_as)
    """`"sender"`: messages come from the adapter's `sender_ambassador_id`, who must be one of the pair;
    `"ambassador"`: from the matched ambassador (`match.ambassador_id`)."""
    follow_up_after_hours: float = attrs.field(default=24.0, validator=attrs.validators.ge(0))
    """When the customer has not written this long after the match, post `follow_up` once; 0 turns it off."""
    follow_up: str = attrs.field(
        default="Hi {first_name}, just checking in: is there anything I can help you with?",
        validator=check_template,
    )
    remember_days: float = attrs.field(default=90.0, validator=attrs.validators.gt(0))
    """How long a match's chatroom is remembered, so a re-sent match within that time does nothing."""


@attrs.frozen
class Match:
    """A customer matched with an ambassador; in Popsell both are ambassadors (ids of `/ambassadors`, positive
    integers or strings of their digits). Checked at the webhook (`body.match` of `match.created`)."""

    id: Id
    customer_ambassador_id: PositiveId
    ambassador_id: PositiveId
    customer_name: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.customer_ambassador_id == self.ambassador_id:
            raise ValueError(
                f"the customer and the ambassador are the same ambassador ({self.ambassador_id})"
            )

    @property
    def pair(self) -> tuple[int, int]:
        """The chatroom's two ambassadors: the matched ambassador, then the customer."""
        return (self.ambassador_id, self.customer_ambassador_id)

    @property
    def name(self) -> str:
        return (self.customer_name or "").strip()

    def render(self, template: str) -> str:
        first = self.name.split()[0] if self.name.split() else "there"
        return template.format(customer_name=self.name or first, first_name=first, match_id=self.id)


@attrs.frozen
class MatchCreated:
    """The payload of `match.created`: `{"match": {...}}`."""

    match: Match


@attrs.frozen
class FollowUp:
    """The payload of the follow-up the bot schedules for itself: the match and its chatroom."""

    match: Match
    chatroom_id: Id
