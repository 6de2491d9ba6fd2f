"""The shared wire-format helpers: what each one accepts, and how clearly it refuses the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import cattrs
import pytest

from adapters import wire
from adapters.wire import Epoch

MOMENT = datetime(2024, 1, 5, 20, 13, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("wire_value", "expected"),
    [
        (12, 12),
        (-3, -3),
        (0, 0),
        (12.0, 12),
        ("12", 12),
        (" -3 ", -3),
        ("007", 7),
        (10**20, 10**20),
    ],
)
def test_structure_int_accepts(wire_value: Any, expected: int) -> None:
    assert wire.structure_int(wire_value) == expected
    assert wire.structure_int(wire_value, int) == expected


@pytest.mark.parametrize(
    ("wire_value", "message"),
    [
        (True, "expected an integer, got True"),
        (False, "expected an integer, got False"),
        (1.5, "expected an integer, got 1.5"),
        ("1.0", "expected an integer, got '1.0'"),
        ("", "expected an integer, got ''"),
        ("-", "expected an integer, got '-'"),
        ("12a", "expected an integer, got '12a'"),
        (None, "expected an integer, got None"),
        ([1], r"expected an integer, got \[1\]"),
    ],
)
def test_structure_int_refuses(wire_value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wire.structure_int(wire_value)


@pytest.mark.parametrize(("wire_value", "expected"), [(True, 1), (False, 0), ("4", 4)])
def test_structure_int_reads_booleans_only_when_asked(wire_value: Any, expected: int) -> None:
    assert wire.structure_int(wire_value, booleans=True) == expected


@pytest.mark.parametrize(
    ("wire_value", "floats", "expected"),
    [
        ("abc", False, "abc"),
        ("", False, ""),
        (12, False, "12"),
        (-7, False, "-7"),
        ("abc", True, "abc"),
        (12, True, "12"),
        (1.5, True, "1.5"),
    ],
)
def test_structure_str_accepts(wire_value: Any, floats: bool, expected: str) -> None:
    assert wire.structure_str(wire_value, floats=floats) == expected


@pytest.mark.parametrize(
    ("wire_value", "floats", "message"),
    [
        (1.5, False, "expected a string or an integer, got 1.5"),
        (True, False, "expected a string or an integer, got True"),
        (None, False, "expected a string or an integer, got None"),
        ({"id": 1}, False, r"expected a string or an integer, got \{'id': 1\}"),
        (False, True, "expected a string or a number, got False"),
        (None, True, "expected a string or a number, got None"),
    ],
)
def test_structure_str_refuses(wire_value: Any, floats: bool, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wire.structure_str(wire_value, floats=floats)


@pytest.mark.parametrize(
    ("text", "on_off", "expected"),
    [
        ("1", False, True),
        ("true", False, True),
        (" YES ", False, True),
        ("0", False, False),
        ("False", False, False),
        ("no", False, False),
        ("", False, False),
        ("  ", False, False),
        ("on", False, None),
        ("off", False, None),
        ("On", True, True),
        (" OFF", True, False),
        ("yes", True, True),
        ("maybe", True, None),
        ("2", False, None),
    ],
)
def test_flag_word(text: str, on_off: bool, expected: bool | None) -> None:
    assert wire.flag_word(text, on_off=on_off) is expected


@pytest.mark.parametrize(
    ("wire_value", "on_off", "expected"),
    [
        (True, False, True),
        (False, False, False),
        (1, False, True),
        (0, False, False),
        ("1", False, True),
        ("0", False, False),
        (" True ", False, True),
        ("", False, False),
        ("on", True, True),
        ("off", True, False),
    ],
)
def test_structure_flag_accepts(wire_value: Any, on_off: bool, expected: bool) -> None:
    assert wire.structure_flag(wire_value, on_off=on_off) is expected


@pytest.mark.parametrize(
    ("wire_value", "on_off"),
    [
        (2, False),
        (-1, False),
        (1.0, False),
        ("maybe", False),
        ("on", False),
        ("off", False),
        (None, True),
        ([], True),
    ],
)
def test_structure_flag_refuses(wire_value: Any, on_off: bool) -> None:
    with pytest.raises(ValueError, match=r"expected a 0/1 flag .*, got "):
        wire.structure_flag(wire_value, on_off=on_off)


@pytest.mark.parametrize(
    ("wire_value", "expected"),
    [
        ("2024-01-05T20:13:00.000Z", MOMENT),
        ("2024-01-05T20:13:00Z", MOMENT),
        ("2024-01-05T20:13:00z", MOMENT),
        ("2024-01-05 20:13:00", MOMENT),
        (" 2024-01-05T20:13:00+00:00 ", MOMENT),
        ("2024-01-05T22:13:00+02:00", datetime(2024, 1, 5, 22, 13, tzinfo=PLUS_TWO)),
        ("2024-01-05T20:13:00.123456789Z", MOMENT.replace(microsecond=123456)),
        ("2023-10-06 13:41:09.123", datetime(2023, 10, 6, 13, 41, 9, 123000, tzinfo=UTC)),
        ("2024-01-05", datetime(2024, 1, 5, tzinfo=UTC)),
        (datetime(2024, 1, 5, 20, 13), MOMENT),
        (datetime(2024, 1, 5, 22, 13, tzinfo=PLUS_TWO), datetime(2024, 1, 5, 22, 13, tzinfo=PLUS_TWO)),
    ],
)
@pytest.mark.parametrize("epoch", ["refuse", "seconds", "seconds-or-millis"])
def test_parse_timestamp_reads_iso_in_every_epoch_mode(
    wire_value: Any, expected: datetime, epoch: Epoch
) -> None:
    parsed = wire.parse_timestamp(wire_value, epoch=epoch)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("wire_value", "epoch", "expected"),
    [
        (1704485580, "seconds", MOMENT),
        (1704485580.5, "seconds", MOMENT.replace(microsecond=500000)),
        (0, "seconds", datetime(1970, 1, 1, tzinfo=UTC)),
        (1704485580, "seconds-or-millis", MOMENT),
        (1704485580000, "seconds-or-millis", MOMENT),
        (100_000_000_000, "seconds-or-millis", datetime.fromtimestamp(100_000_000_000, tz=UTC)),
        (-1_000_000_000_000, "seconds-or-millis", datetime.fromtimestamp(-1_000_000_000, tz=UTC)),
    ],
)
def test_parse_timestamp_reads_epoch_numbers(wire_value: float, epoch: Epoch, expected: datetime) -> None:
    assert wire.parse_timestamp(wire_value, epoch=epoch) == expected


@pytest.mark.parametrize(
    ("wire_value", "epoch", "message"),
    [
        (1704485580, "refuse", "expected an ISO 8601 date-time, got 1704485580"),
        (1704485580000, "seconds", "expected a Unix epoch time in range, got 1704485580000"),
        (float("inf"), "seconds-or-millis", "expected a Unix epoch time in range, got inf"),
        ("soon", "seconds", "expected an ISO 8601 date-time, got 'soon'"),
        ("", "seconds", "expected an ISO 8601 date-time, got ''"),
        ("  ", "seconds-or-millis", "expected an ISO 8601 date-time, got '  '"),
        ("0000-00-00 00:00:00", "seconds", "expected an ISO 8601 date-time, got '0000-00-00 00:00:00'"),
        ("1704485580", "seconds-or-millis", "expected an ISO 8601 date-time, got '1704485580'"),
        (None, "refuse", "expected an ISO 8601 date-time, got None"),
        (None, "seconds", r"expected a date-time \(ISO 8601 or Unix epoch\), got None"),
        (True, "seconds", r"expected a date-time \(ISO 8601 or Unix epoch\), got True"),
        ([2024], "seconds-or-millis", r"expected a date-time \(ISO 8601 or Unix epoch\), got \[2024\]"),
    ],
)
def test_parse_timestamp_refuses(wire_value: Any, epoch: Epoch, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wire.parse_timestamp(wire_value, epoch=epoch)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (MOMENT, "2024-01-05T20:13:00.000Z"),
        (MOMENT.replace(microsecond=5000), "2024-01-05T20:13:00.005Z"),
        (MOMENT.replace(microsecond=999999), "2024-01-05T20:13:00.999Z"),
        (datetime(2024, 1, 5, 22, 13, 0, 123456, tzinfo=PLUS_TWO), "2024-01-05T20:13:00.123Z"),
    ],
)
def test_format_millis_z(moment: datetime, expected: str) -> None:
    assert wire.format_millis_z(moment) == expected
    assert wire.parse_timestamp(expected) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@attrs.frozen
class _Record:
    id: str
    count: int
    active: bool


def test_the_helpers_serve_as_cattrs_hooks() -> None:
    converter = cattrs.Converter()
    converter.register_structure_hook(str, wire.structure_str)
    converter.register_structure_hook(int, wire.structure_int)
    converter.register_structure_hook(bool, wire.structure_flag)

    assert converter.structure({"id": 7, "count": "3", "active": "1"}, _Record) == _Record("7", 3, True)
    with pytest.raises(cattrs.ClassValidationError) as raised:
        converter.structure({"id": True, "count": "x", "active": "maybe"}, _Record)
    messages = sorted(str(error) for error in raised.value.exceptions)
    assert messages == [
        "expected a 0/1 flag (a boolean, 0 or 1, or a word like 'true' or 'no'), got 'maybe'",
        "expected a string or an integer, got True",
        "expected an integer, got 'x'",
    ]


@attrs.frozen
class _Sparse:
    id: str | None = None
    count: int | None = None
    seen: datetime | None = None
    record: _Record | None = None


def _sparse_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    wire.register_optional_hooks(converter)
    converter.register_structure_hook(str, wire.structure_str)
    converter.register_structure_hook(int, wire.structure_int)
    converter.register_structure_hook(bool, wire.structure_flag)
    converter.register_structure_hook(datetime, lambda value, _: wire.parse_timestamp(value))
    return converter


def test_optional_fields_go_through_the_hook_of_their_type() -> None:
    converter = _sparse_converter()
    assert converter.structure(
        {"id": 7, "count": "3", "seen": "2024-01-05 20:13:00", "record": {"id": 1, "count": 2, "active": 0}},
        _Sparse,
    ) == _Sparse("7", 3, datetime(2024, 1, 5, 20, 13, tzinfo=UTC), _Record("1", 2, False))
    assert (
        converter.structure({"id": None, "count": None, "seen": None, "record": None}, _Sparse) == _Sparse()
    )
    with pytest.raises(cattrs.ClassValidationError) as raised:
        converter.structure({"id": True, "count": "x"}, _Sparse)
    assert sorted(str(error) for error in raised.value.exceptions) == [
        "expected a string or an integer, got True",
        "expected an integer, got 'x'",
    ]


def test_a_hook_registered_later_for_one_optional_type_wins() -> None:
    converter = _sparse_converter()
    converter.register_structure_hook(int | None, lambda value, _: -1 if value in (None, "") else int(value))
    assert converter.structure({"count": ""}, _Sparse) == _Sparse(count=-1)
