"""An option a provider does not take is refused by name before any call, and the ones it takes pass."""

from __future__ import annotations

import pytest

from adapters.options import refuse_unknown
from framework.errors import InvalidRequest


def test_each_unknown_option_is_named_with_what_the_provider_takes() -> None:
    with pytest.raises(InvalidRequest, match="find_chat: unknown options colour, size") as raised:
        refuse_unknown(
            "popsell", "find_chat", {"source": 1, "size": 2, "colour": 3}, {"source", "id_brand_tag"}
        )
    assert raised.value.provider == "popsell"
    assert raised.value.field_errors == {
        "colour": ["unknown option; popsell find_chat takes id_brand_tag, source"],
        "size": ["unknown option; popsell find_chat takes id_brand_tag, source"],
    }


def test_accepted_options_and_none_at_all_pass() -> None:
    refuse_unknown("devrev", "create_chat", {"records": ["x"]}, {"records", "is_default"})
    refuse_unknown("roostedhr", "create_chat", {}, ())
