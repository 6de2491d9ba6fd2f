"""The real `chatwright run` service as a benchmark starts it: its config written as TOML, its readiness awaited."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from tests.benchmarks.harness import Child

__all__ = ["http_get", "toml_document", "toml_value", "wait_ready"]


def toml_value(value: Any) -> str:
    """`value` as a TOML value (inline tables and arrays; dates by their ISO form)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    raise TypeError(f"cannot write {value!r} as TOML")


def toml_document(document: dict[str, Any]) -> str:
    """A TOML document: each dict a `[section]` table, anything else a top-level key."""
    lines = []
    for section, table in document.items():
        if isinstance(table, dict):
            lines.append(f"[{section}]")
            lines += [f"{json.dumps(str(key))} = {toml_value(value)}" for key, value in table.items()]
        else:
            lines.append(f"{section} = {toml_value(table)}")
    return "\n".join(lines) + "\n"


def http_get(url: str) -> tuple[int, str]:
    """The status and body of GET `url` (an error status too, with an empty body)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def wait_ready(child: Child, url: str, timeout: float = 30.0) -> None:
    """Block until `url` answers 200; fail if the child exits first or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(
                f"{child.name} exited with code {child.process.returncode} before it was ready"
            )
        try:
            if http_get(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"{child.name} was not ready within {timeout:.0f}s")
