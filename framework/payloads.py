"""Typed payloads: an attrs class a handler declares for its event's data (`@plugin.on(..., payload=T)`).

The webhook receiver structures a delivery's body into every type the handlers of its event type declare and
answers a body that does not fit with 422 and the field errors (it never reaches the inbox); a handler reads the
typed value with `event.payload(T)`. The event's `data` stays the JSON as received, so the inbox, replays and
dead letters are unchanged.

Structuring is strict where JSON is unambiguous: a `str` field takes a string, an `int` an integer (not a
boolean, not a string of digits), a `float` a number, a `bool` true or false, a `datetime` an ISO 8601 string
(a naive one stays naive: the handler knows its zone). `Id`, `PositiveId` and `NonEmptyStr` are field types for
what webhook bodies often carry. Keys the class does not name are ignored: senders add fields.
"""

from __future__ import annotations

import collections.abc
import typing
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NewType, TypeVar

import attrs
import cattrs
from cattrs.cols import list_structure_factory
from cattrs.gen import make_dict_structure_fn
from cattrs.v import format_exception, transform_error

from framework.errors import InvalidEvent

__all__ = [
    "Id",
    "InvalidPayload",
    "NonEmptyStr",
    "PayloadError",
    "PositiveId",
    "check_payload_type",
    "payload_converter",
    "payload_problems",
    "structure_payload",
]

T = TypeVar("T")
INT64_MAX = 2**63 - 1

Id = NewType("Id", str)
"""A field type: a non-empty string or an integer (senders differ), as a stripped string."""
PositiveId = NewType("PositiveId", int)
"""A field type: a positive integer up to 2**63 - 1, or a string of its digits, as an int."""
NonEmptyStr = NewType("NonEmptyStr", str)
"""A field type: a string with more than whitespace in it, stripped."""


class PayloadError(ValueError):
    """A JSON value that does not fit its field; the message is what a sender reads in the 422."""


class InvalidPayload(InvalidEvent):
    """`event.payload(T)` on data that does not fit `T`: dead-lettered at once (retrying cannot help).

    `fields` maps each dotted path (`shift.id`, `roster[2]`; `$` for the body itself) to what is wrong there.
    """

    def __init__(self, type_name: str, fields: Mapping[str, list[str]]) -> None:
        self.fields = dict(fields)
        listed = "; ".join(f"{path}: {', '.join(messages)}" for path, messages in self.fields.items())
        super().__init__(f"the event's data does not fit {type_name}: {listed}")


def _strict_str(value: Any, _: type) -> str:
    if type(value) is str:
        return value
    raise PayloadError(f"expected a string, got {_kind(value)}")


def _strict_int(value: Any, _: type) -> int:
    if type(value) is int:
        return value
    raise PayloadError(f"expected an integer, got {_kind(value)}")


def _strict_float(value: Any, _: type) -> float:
    if type(value) is int or type(value) is float:
        return float(value)
    raise PayloadError(f"expected a number, got {_kind(value)}")


def _strict_bool(value: Any, _: type) -> bool:
    if type(value) is bool:
        return value
    raise PayloadError(f"expected true or false, got {_kind(value)}")


def _datetime(value: Any, _: type) -> datetime:
    if type(value) is not str:
        raise PayloadError(f"expected an ISO 8601 date-time string, got {_kind(value)}")
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        raise PayloadError(f"{value!r} is not ISO 8601; expected e.g. 2025-06-02T08:00:00+02:00") from None


def _id(value: Any, _: Any) -> str:
    if (type(value) is str and value.strip()) or type(value) is int:
        return str(value).strip()
    raise PayloadError(f"expected a non-empty string or an integer id, got {_kind(value)}")


def _positive_id(value: Any, _: Any) -> int:
    number = int(value) if type(value) is str and value.strip().isdigit() else value
    if type(number) is int and 1 <= number <= INT64_MAX:
        return number
    raise PayloadError(f"expected a positive integer id, got {_kind(value)}")


def _non_empty(value: Any, _: Any) -> str:
    if type(value) is str and value.strip():
        return value.strip()
    raise PayloadError(
        f"expected a non-empty string, got {'a blank one' if type(value) is str else _kind(value)}"
    )


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    if type(value) in (int, float):
        return f"the number {value!r}"
    return names.get(type(value), type(value).__name__)


def _objects_only(converter: cattrs.Converter) -> None:
    """An attrs class takes a JSON object only (cattrs would try any mapping-like value and fail obscurely)."""

    def factory(cls: Any) -> Any:
        structure = make_dict_structure_fn(cls, converter)

        def structure_object(value: Any, _: Any) -> Any:
            if type(value) is not dict:
                raise PayloadError(f"expected an object, got {_kind(value)}")
            return structure(value, cls)

        return structure_object

    converter.register_structure_hook_factory(attrs.has, factory)


def _arrays_only(converter: cattrs.Converter) -> None:
    """A list, tuple or Sequence field takes a JSON array only (not a string, not an object's keys)."""
    sequences: tuple[Any, ...] = (tuple, list, collections.abc.Sequence)

    def is_array(cls: Any) -> bool:
        args = typing.get_args(cls)
        origin = typing.get_origin(cls) or cls
        return origin in sequences and (origin is not tuple or (len(args) == 2 and args[1] is Ellipsis))

    def factory(cls: Any) -> Any:
        args = typing.get_args(cls)
        item = args[0] if args else Any
        structure = list_structure_factory(list[item], converter)  # type: ignore[valid-type]
        as_tuple = (typing.get_origin(cls) or cls) is tuple

        def structure_array(value: Any, _: Any) -> Any:
            if type(value) is not list:
                raise PayloadError(f"expected an array, got {_kind(value)}")
            items = structure(value, list[item])  # type: ignore[valid-type]
            return tuple(items) if as_tuple else items

        return structure_array

    converter.register_structure_hook_factory(is_array, factory)


def payload_converter() -> cattrs.Converter:
    """A fresh converter with the strict JSON rules above; register hooks of your own on it as needed."""
    converter = cattrs.Converter(detailed_validation=True)
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(float, _strict_float)
    converter.register_structure_hook(bool, _strict_bool)
    converter.register_structure_hook(datetime, _datetime)
    converter.register_structure_hook(Id, _id)
    converter.register_structure_hook(PositiveId, _positive_id)
    converter.register_structure_hook(NonEmptyStr, _non_empty)
    _arrays_only(converter)
    _objects_only(converter)
    return converter


CONVERTER = payload_converter()
"""The converter the receiver and `Event.payload` use."""


def _format(error: BaseException, kind: type | None) -> str:
    if isinstance(error, PayloadError):
        return str(error)
    if isinstance(error, ValueError | TypeError) and not isinstance(error, cattrs.BaseValidationError):
        # attrs validators and __attrs_post_init__ checks of the payload class speak for themselves
        text = str(error.args[0]) if error.args else ""
        if text and not text.startswith("invalid literal"):
            return text
    return format_exception(error, kind)


def _fields(error: BaseException) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for line in transform_error(error, format_exception=_format):  # type: ignore[arg-type]
        message, _, path = line.rpartition(" @ ")
        key = path[2:] if path.startswith("$.") else path
        fields.setdefault(key, []).append(message)
    return fields


def structure_payload(data: Any, kind: type[T]) -> T:
    """`data` structured into `kind`; raises InvalidPayload with the field errors when it does not fit."""
    try:
        return CONVERTER.structure(data, kind)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as error:
        raise InvalidPayload(kind.__qualname__, _fields(error)) from None


def payload_problems(data: Any, kinds: Iterable[type]) -> dict[str, list[str]]:
    """The field errors of `data` against every type in `kinds` (all must accept it); empty when it fits."""
    fields: dict[str, list[str]] = {}
    for kind in kinds:
        try:
            CONVERTER.structure(data, kind)
        except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as error:
            for path, messages in _fields(error).items():
                known = fields.setdefault(path, [])
                known.extend(message for message in messages if message not in known)
    return fields


def check_payload_type(kind: Any, where: str) -> None:
    """Refuse at registration what cannot be a payload type (it must be an attrs class)."""
    if not (isinstance(kind, type) and attrs.has(kind)):
        raise TypeError(f"{where}: payload= must be an attrs class, got {kind!r}")
    try:
        CONVERTER.get_structure_hook(kind)  # field types cattrs cannot structure fail here, not per delivery
    except cattrs.errors.StructureHandlerNotFoundError as error:
        raise TypeError(
            f"{where}: payload {kind.__qualname__}: {error} (use Id for a string-or-integer id)"
        ) from None
