"""Structuring config tables into attrs classes with cattrs, each problem reported at its key.

`structure_section` structures one section and flattens cattrs' nested errors into `key.path: message` lines.
The webhook route and signature scheme configs structure through `structure_checked`; their validators raise
`FieldProblem` so that cattrs' error report names the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)

from framework.suggest import closest, unknown_keys

__all__ = ["FieldProblem", "field_error", "structure_checked", "structure_section"]

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


def _unknown(error: ForbiddenExtraKeysError) -> str:
    valid = [field.name for field in attrs.fields(error.cl)] if attrs.has(error.cl) else []
    return unknown_keys(error.extra_fields, valid)


def _describe(error: BaseException) -> str:
    if isinstance(error, ForbiddenExtraKeysError):
        return _unknown(error)
    if isinstance(error, KeyError):
        return "missing"
    if isinstance(error, ValueError) and len(error.args) > 1 and isinstance(error.args[0], str):
        return error.args[0]  # attrs' built-in validators add the attribute and bounds as more args
    message = str(error) or type(error).__name__
    if "required field missing" in message:
        return "missing"
    return message


def _messages(error: BaseException, path: str) -> list[str]:
    """Flatten cattrs' nested errors into `key.path: message` lines."""
    if isinstance(error, ClassValidationError | IterableValidationError):
        lines: list[str] = []
        for inner in error.exceptions:
            note = next(
                (n for n in getattr(inner, "__notes__", []) if hasattr(n, "name") or hasattr(n, "index")),
                None,
            )
            sub = path
            if note is not None:
                if hasattr(note, "name"):
                    sub = f"{path}.{note.name}" if path else str(note.name)
                else:
                    sub = f"{path}[{note.index}]"
            if isinstance(inner, KeyError) or "required field missing" in str(inner):
                lines.append(f"{sub}: missing")
            else:
                lines.extend(_messages(inner, sub))
        return lines
    if isinstance(error, ForbiddenExtraKeysError):
        return [f"{path}: {_unknown(error)}"]
    message = _describe(error)
    match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*): (.*)$", message, re.S) or re.match(
        r"^'([A-Za-z_][A-Za-z0-9_]*)' (must .*)$", message, re.S
    )
    if match and isinstance(error, ValueError | TypeError):
        return [
            f"{path}.{match.group(1)}: {match.group(2)}" if path else f"{match.group(1)}: {match.group(2)}"
        ]
    return [f"{path}: {message}"]


def structure_section(
    converter: cattrs.Converter, raw: Any, kind: type[T], where: str, file_name: str
) -> tuple[T | None, list[str]]:
    """Structure one section; returns the value or the problems, each prefixed with the file and key path."""
    try:
        return converter.structure(raw, kind), []
    except (
        ClassValidationError,
        IterableValidationError,
        ForbiddenExtraKeysError,
        ValueError,
        TypeError,
    ) as error:
        return None, [f"{file_name}: {line}" for line in _messages(error, where)]
