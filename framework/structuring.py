"""Structuring a config table into an attrs class: unknown keys refused, each problem reported at its key.

The webhook route and signature scheme configs structure through `structure_checked`; their validators raise
`FieldProblem` so that cattrs' error report names the key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import attrs
from cattrs.errors import AttributeValidationNote, ClassValidationError

from framework.suggest import closest

__all__ = ["FieldProblem", "field_error", "structure_checked"]

T = TypeVar("T")


class FieldProblem(ValueError):
    """A config value is wrong: `field` names the key, `reason` says what was wrong and what to do."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def field_error(cls: type[Any], field: str, reason: str) -> ClassValidationError:
    """An error cattrs' `transform_error` reports at `<path>.<field>` with `reason` as its message."""
    error = ValueError(reason)
    note = AttributeValidationNote(f"Structuring class {cls.__name__} @ attribute {field}", field, str)
    error.__notes__ = [note]
    return ClassValidationError(f"While structuring {cls.__name__}", [error], cls)


def structure_checked(
    structure: Callable[[Any, type[T]], T],
    value: Mapping[str, Any],
    cls: type[T],
    *,
    lists: Iterable[str] = (),
) -> T:
    """Structure `value` into `cls`, refusing unknown keys and reporting each problem at its key."""
    names = [field.name for field in attrs.fields(cls)]  # type: ignore[arg-type]
    for key in value:
        if key not in names:
            match = closest(str(key), names)
            hint = f"did you mean {match}? " if match else ""
            raise field_error(cls, str(key), f"unknown key; {hint}valid keys here: {', '.join(names)}")
    for key in lists:
        if isinstance(value.get(key), str):
            raise field_error(cls, key, f'expected a list of strings, e.g. {key} = ["..."]')
    try:
        return structure(value, cls)
    except FieldProblem as problem:
        raise field_error(cls, problem.field, problem.reason) from None
    except ClassValidationError as error:
        problems = [inner for inner in error.exceptions if isinstance(inner, FieldProblem)]
        if not problems:
            raise
        raise field_error(cls, problems[0].field, problems[0].reason) from None
