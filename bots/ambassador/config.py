"""The `[plugins.ambassador]` table and the `match.created` body the ambassador bot reads."""

from __future__ import annotations

from typing import Any

import attrs

from bots.config_checks import template

__all__ = ["POST_AS", "TEMPLATE_FIELDS", "AmbassadorConfig", "InvalidMatch", "Match", "parse_match"]

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


class InvalidMatch(ValueError):
    """A `match.created` body the bot cannot act on; the message says which field is wrong."""


@attrs.frozen
class Match:
    """A customer matched with an ambassador; in Popsell both are ambassadors (ids of `/ambassadors`)."""

    id: str
    customer_ambassador_id: int
    ambassador_id: int
    customer_name: str = ""

    @property
    def pair(self) -> tuple[int, int]:
        """The chatroom's two ambassadors: the matched ambassador, then the customer."""
        return (self.ambassador_id, self.customer_ambassador_id)

    def render(self, template: str) -> str:
        first = self.customer_name.split()[0] if self.customer_name.split() else "there"
        return template.format(customer_name=self.customer_name or first, first_name=first, match_id=self.id)


def _ambassador_id(match: dict[str, Any], field: str) -> int:
    value = match.get(field)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise InvalidMatch(f"match.{field}: expected an ambassador id (a positive integer), got {value!r}")


def parse_match(data: dict[str, Any]) -> Match:
    """The `match` object of a `match.created` body; raises InvalidMatch naming the field that is wrong."""
    match = data.get("match")
    if not isinstance(match, dict):
        raise InvalidMatch("match: missing or not an object")
    match_id = match.get("id")
    if isinstance(match_id, bool) or not isinstance(match_id, str | int) or str(match_id).strip() == "":
        raise InvalidMatch(f"match.id: expected a string or integer id, got {match_id!r}")
    customer = _ambassador_id(match, "customer_ambassador_id")
    ambassador = _ambassador_id(match, "ambassador_id")
    if customer == ambassador:
        raise InvalidMatch(f"match: the customer and the ambassador are the same ambassador ({customer})")
    name = match.get("customer_name")
    if name is not None and not isinstance(name, str):
        raise InvalidMatch(f"match.customer_name: expected a string, got {name!r}")
    return Match(
        id=str(match_id).strip(),
        customer_ambassador_id=customer,
        ambassador_id=ambassador,
        customer_name=(name or "").strip(),
    )
