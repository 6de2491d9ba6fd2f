"""The read-back helpers the adapters share: the `since` cut-off at a provider's timestamp resolution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from adapters.readback import cutoff

SINCE = datetime(2024, 1, 5, 20, 13, 7, 654321, tzinfo=UTC)


@pytest.mark.parametrize(
    ("resolution", "expected"),
    [
        (timedelta(0), SINCE),
        (timedelta(milliseconds=1), SINCE.replace(microsecond=654000)),
        (timedelta(seconds=1), SINCE.replace(microsecond=0)),
    ],
)
def test_cutoff_is_since_cut_down_to_whole_ticks(resolution: timedelta, expected: datetime) -> None:
    assert cutoff(SINCE, resolution) == expected


def test_cutoff_counts_ticks_in_utc_whatever_the_zone() -> None:
    half_hour_zone = timezone(timedelta(hours=5, minutes=30))
    since = SINCE.astimezone(half_hour_zone)

    assert cutoff(since, timedelta(hours=1)) == datetime(2024, 1, 5, 20, tzinfo=UTC)


def test_cutoff_refuses_a_naive_since() -> None:
    with pytest.raises(ValueError, match="since must be timezone-aware"):
        cutoff(datetime(2024, 1, 5, 20, 13), timedelta(seconds=1))
