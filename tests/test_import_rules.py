"""What importing a module loads: an adapter does not load its emulator, reading a config loads no runtime."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

ADAPTERS = ("devrev", "groupalarm", "popsell", "roostedhr")


def loaded_after(statement: str) -> set[str]:
    """The project modules a fresh interpreter holds after running `statement`."""
    script = f"{statement}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return {name for name in result.stdout.split() if name.split(".")[0] in ("framework", "adapters", "bots")}


def test_importing_an_adapter_loads_neither_its_emulator_nor_the_emulator_kit() -> None:
    loaded = loaded_after("; ".join(f"import adapters.{name}" for name in ADAPTERS))
    assert {f"adapters.{name}" for name in ADAPTERS} <= loaded
    assert [name for name in loaded if "emulat" in name] == []


def test_an_adapters_emulator_is_loaded_when_it_is_served() -> None:
    loaded = loaded_after(
        "from adapters.devrev import ADAPTER\n"
        "from framework.adapter_registry import EmulatorOptions\n"
        "ADAPTER.emulator(EmulatorOptions())"
    )
    assert {"adapters.devrev.emulator", "framework.emulation"} <= loaded


def test_reading_a_config_loads_neither_the_runtime_nor_a_store() -> None:
    loaded = loaded_after(
        "from framework.config import load_config\nload_config('examples/hello/bot.toml', environ={})"
    )
    runtime = {
        "framework.runtime",
        "framework.worker",
        "framework.service",
        "framework.schedules.service",
        "framework.schedules.scheduler",
        "framework.triggers.webhook_receiver",
        "framework.store.sqlite",
        "framework.store.redis",
    }
    assert "framework.config" in loaded
    assert sorted(loaded & runtime) == []
