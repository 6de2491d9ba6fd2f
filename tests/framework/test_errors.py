"""ProviderError.may_have_acted: what a handler must check before repeating a call that is not safe to repeat."""

from __future__ import annotations

import pytest

from framework.errors import (
    AuthError,
    Conflict,
    InvalidRequest,
    NotFound,
    ProviderError,
    RateLimited,
    Unavailable,
    Unsupported,
)


@pytest.mark.parametrize(
    "error",
    [
        AuthError("no"),
        NotFound("gone"),
        Conflict("exists"),
        InvalidRequest("bad"),
        RateLimited("slow down"),
        Unsupported("popsell", "rename_chat"),
    ],
)
def test_refusals_and_429s_did_not_act(error: ProviderError) -> None:
    assert not error.may_have_acted


@pytest.mark.parametrize("error", [Unavailable("timed out"), ProviderError("HTTP 418", status=418)])
def test_failures_without_a_refusal_may_have_acted(error: ProviderError) -> None:
    assert error.may_have_acted
