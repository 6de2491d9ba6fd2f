"""What pyproject.toml declares: bounds on what the code relies on, and no extra that nothing uses."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement

from tests.conftest import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SOURCES = ("framework", "adapters", "bots", "examples", "tests")
# Distributions whose module has another name.
MODULES = {
    "pytest-asyncio": "pytest_asyncio",
    "pytest-aiohttp": "pytest_aiohttp",
    "pytest-timeout": None,
    "opentelemetry-api": "opentelemetry",
    "opentelemetry-sdk": "opentelemetry.sdk",
    "opentelemetry-exporter-otlp-proto-http": "opentelemetry.exporter.otlp.proto.http",
}


def requirements(names: list[str]) -> dict[str, Requirement]:
    return {Requirement(line).name.lower(): Requirement(line) for line in names}


def imported_anywhere(module: str) -> bool:
    pattern = re.compile(rf"^\s*(import|from)\s+{re.escape(module)}\b", re.M)
    return any(
        pattern.search(path.read_text(encoding="utf-8"))
        for directory in SOURCES
        for path in (ROOT / directory).rglob("*.py")
    )


def test_libraries_used_through_their_internals_are_capped_below_their_next_major() -> None:
    # cattrs: cattrs.gen overrides and error notes; APScheduler: scheduler, job and job-store internals.
    dependencies = requirements(PROJECT["dependencies"])
    for name, cap in {"cattrs": "<27", "apscheduler": "<4"}.items():
        assert cap in str(dependencies[name].specifier), f"{name} needs an upper bound ({cap})"


def test_the_testing_extra_holds_what_the_kit_imports() -> None:
    testing = requirements(PROJECT["optional-dependencies"]["testing"])
    assert {"pytest", "pytest-asyncio"} <= set(testing)


def test_every_extra_installs_something_the_code_imports() -> None:
    for extra, lines in PROJECT["optional-dependencies"].items():
        if extra == "dev":  # tools (ruff, mypy, ...) are run, not imported
            continue
        for name in requirements(lines):
            module = MODULES.get(name, name.replace("-", "_"))
            if module is not None:
                assert imported_anywhere(module), f"extra {extra!r}: nothing imports {module} ({name})"
