"""Wire-format helpers every adapter's converter shares: the quirks providers have in common.

Each provider still builds its own cattrs converter in its `models.py`; these are the pieces it registers there.
A `structure_*` function takes the raw JSON value and, ignored, the type cattrs passes with it, so it serves as
a cattrs structure hook as is and can also be called with the value alone. Where providers really differ, a
keyword says how (`booleans=`, `floats=`, `on_off=`, `epoch=`); the defaults are the strict choice. Every
refusal is a `ValueError` that names what was expected and repeats what came; cattrs gathers those into its
validation errors. What only one provider does (zero dates, Go zero values, ...) stays in its `models.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import attrs
import cattrs

__all__ = [
    "FALSE_WORDS",
    "OFF_WORDS",
    "ON_WORDS",
    "TRUE_WORDS",
    "Epoch",
    "flag_word",
    "format_millis_z",
    "parse_timestamp",
    "register_optional_hooks",
    "structure_flag",
    "structure_int",
    "structure_str",
]

TRUE_WORDS = frozenset({"1", "true", "yes"})
"""Strings read as a true flag (after stripping and lower-casing)."""
FALSE_WORDS = frozenset({"0", "false", "no", ""})
"""Strings read as a false flag; the empty string is one."""
ON_WORDS = TRUE_WORDS | {"on"}
"""`TRUE_WORDS` plus "on", for providers that also write on/off."""
OFF_WORDS = FALSE_WORDS | {"off"}
"""`FALSE_WORDS` plus "off"."""

Epoch = Literal["refuse", "seconds", "seconds-or-millis"]
"""What a number means where a timestamp belongs: no timestamp at all, Unix seconds, or Unix seconds unless
it is past 1e11 in size (beyond the year 5000), then milliseconds."""

MILLIS_THRESHOLD = 1e11
"""An epoch number larger than this (in size) counts as milliseconds under `"seconds-or-millis"`."""


def structure_int(value: Any, _: object = None, *, booleans: bool = False) -> int:
    """An int sent as an int, an integral float (`12.0`) or a numeric string (`"12"`, `" -3 "`).

    Booleans are refused unless `booleans` is set (then `True`/`False` are 1/0).
    """
    if isinstance(value, bool):
        if booleans:
            return int(value)
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError(f"expected an integer, got {value!r}")


def structure_str(value: Any, _: object = None, *, floats: bool = False) -> str:
    """A string, or an integer sent where the schema says string (mostly ids: `12` is read as `"12"`).

    Floats are refused unless `floats` is set (then `1.5` is read as `"1.5"`); booleans are always refused.
    """
    if isinstance(value, str):
        return value
    numbers = (int, float) if floats else (int,)
    if isinstance(value, numbers) and not isinstance(value, bool):
        return str(value)
    expected = "a string or a number" if floats else "a string or an integer"
    raise ValueError(f"expected {expected}, got {value!r}")


def flag_word(text: str, *, on_off: bool = False) -> bool | None:
    """The flag a string stands for ("1", "true", "yes" / "0", "false", "no", ""), or None for any other text.

    Case and surrounding blanks do not matter; with `on_off`, "on" and "off" count as well.
    """
    word = text.strip().lower()
    if word in (ON_WORDS if on_off else TRUE_WORDS):
        return True
    if word in (OFF_WORDS if on_off else FALSE_WORDS):
        return False
    return None


def structure_flag(value: Any, _: object = None, *, on_off: bool = False) -> bool:
    """A flag sent as a boolean, as the int 0 or 1, or as a flag word (see `flag_word`)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        flag = flag_word(value, on_off=on_off)
        if flag is not None:
            return flag
    raise ValueError(f"expected a 0/1 flag (a boolean, 0 or 1, or a word like 'true' or 'no'), got {value!r}")


def parse_timestamp(value: Any, *, epoch: Epoch = "seconds-or-millis") -> datetime:
    """An aware datetime from a lenient ISO 8601 string, a Unix epoch number (see `Epoch`) or a datetime.

    Strings may use a space for `T`, any number of fractional digits (beyond microseconds is cut off), `Z`
    or `z` or an offset; a time without a zone is read as UTC. Null, booleans and blank strings are refused.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if epoch == "refuse":
            raise ValueError(f"expected an ISO 8601 date-time, got {value!r}")
        moment = _from_epoch(value, millis=epoch == "seconds-or-millis")
    elif isinstance(value, str):
        moment = _from_iso(value)
    else:
        expected = "an ISO 8601 date-time" if epoch == "refuse" else "a date-time (ISO 8601 or Unix epoch)"
        raise ValueError(f"expected {expected}, got {value!r}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def format_millis_z(moment: datetime) -> str:
    """UTC with exactly three fractional digits and a `Z`: `2024-01-05T20:13:00.000Z` (microseconds cut off)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _from_epoch(number: float, *, millis: bool) -> datetime:
    seconds = number / 1000 if millis and abs(number) > MILLIS_THRESHOLD else number
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"expected a Unix epoch time in range, got {number!r}") from None


def _from_iso(text: str) -> datetime:
    # Python 3.11's fromisoformat reads a space for `T`, long fractions and `Z`, but not a lower-case `z`.
    stripped = text.strip()
    if stripped.endswith(("Z", "z")):
        stripped = stripped[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(f"expected an ISO 8601 date-time, got {text!r}") from None


def register_optional_hooks(converter: cattrs.Converter) -> None:
    """Structure `X | None` fields through X's hook, looked up once per type, for X that is not an attrs class.

    cattrs' own hook for optional types looks X's hook up again for every value it structures: a quarter of the
    time a small answer takes to read (a RoostedHR message: 9.7 -> 7.1 us). Optional attrs classes keep cattrs'
    hook, which copes with classes that refer to themselves, and so does an `X | None` given a hook of its own
    (registered before or after this).
    """

    def optional_hook(kind: Any) -> Callable[[Any, Any], Any]:
        inner = _optional_of(kind)
        hook = converter.get_structure_hook(inner)

        def structure_optional(value: Any, _: Any) -> Any:
            return None if value is None else hook(value, inner)

        return structure_optional

    # cattrs keeps hooks registered for one union type in a registry of its own, which it consults after the
    # factories: without this check, such a hook for `X | None` would lose to this factory.
    specific: dict[Any, Any] = getattr(converter, "_union_struct_registry", {})

    def applies(kind: Any) -> bool:
        inner = _optional_of(kind)
        return inner not in (None, Any) and not attrs.has(inner) and kind not in specific

    converter.register_structure_hook_factory(applies, optional_hook)


def _optional_of(kind: Any) -> Any:
    """X for `X | None` or `Optional[X]`; None for any other type."""
    if get_origin(kind) not in (Union, UnionType):
        return None
    args = get_args(kind)
    if len(args) != 2 or type(None) not in args:
        return None
    return args[0] if args[1] is type(None) else args[1]
