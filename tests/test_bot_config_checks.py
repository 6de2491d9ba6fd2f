"""The validators the bots' config classes share: templates and time zones refused with the key named."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest

from bots.config_checks import template, time_zone


@attrs.frozen
class Sample:
    text: str = attrs.field(validator=template({"title": "Morning", "at": datetime(2025, 1, 1, tzinfo=UTC)}))
    zone: str | None = attrs.field(default=None, validator=time_zone)


def test_a_template_with_known_fields_and_formats_passes() -> None:
    assert Sample("Shift {title} at {at:%H:%M}", "Europe/Berlin").zone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Hi {name} {who}", "text: unknown field(s) {name}, {who}; use {title}, {at}"),
        ("Hi {title", "text: 'Hi {title' is not a valid template"),
        ("{title:%Q%d}", "text: '{title:%Q%d}' is not a valid template"),
        ("   ", "text: empty; give a text"),
    ],
)
def test_bad_templates_name_the_key(text: str, message: str) -> None:
    with pytest.raises(
        ValueError,
        match="^" + message.replace("{", r"\{").replace("}", r"\}").replace("(", r"\(").replace(")", r"\)"),
    ):
        Sample(text)


def test_an_unknown_time_zone_names_the_key() -> None:
    with pytest.raises(ValueError, match="zone: unknown time zone 'Mars/Base'"):
        Sample("{title}", "Mars/Base")
