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


def test_finding_one_adapter_loads_no_other_adapters_package() -> None:
    loaded = loaded_after("from framework.adapter_registry import find_adapter\nfind_adapter('roostedhr')")
    assert "adapters.roostedhr" in loaded
    assert [name for name in ADAPTERS if f"adapters.{name}" in loaded] == ["roostedhr"]


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


LOADED_AT_FIRST_USE = ("jinja2", "prometheus_client", "framework.metrics_exposition")
"""What a running service loads only when it is first asked for: the console's templates, the `/metrics` text."""

SERVICE_WITH_THE_FOUR_BOTS = """
import asyncio, sys, tempfile
from pathlib import Path
from framework.testing import BotHarness
from tests.benchmarks.bench_footprint import bench_config

LAZY = {lazy!r}

def held():
    return sorted(name for name in LAZY if name in sys.modules)

async def main():
    with tempfile.TemporaryDirectory() as directory:
        path, env, with_bots = bench_config(Path(directory), 0, "http://emulator.invalid")
        assert with_bots
        async with BotHarness.from_config(path, environ=env) as bot:
            assert (await bot.get("/readyz")).status == 200
            print("idle", *held())
            page = await bot.get("/admin/events")
            assert (page.status, page.content_type) == (200, "text/html")
            print("console", *held())
            assert (await bot.get("/metrics")).status == 200
            print("scraped", *held())

asyncio.run(main())
"""


def test_a_running_service_loads_the_console_templates_and_the_metrics_text_at_first_use() -> None:
    script = SERVICE_WITH_THE_FOUR_BOTS.format(lazy=LOADED_AT_FIRST_USE)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    stages = {stage: held for stage, _, held in (line.partition(" ") for line in result.stdout.splitlines())}
    assert stages == {
        "idle": "",
        "console": "jinja2",
        "scraped": "framework.metrics_exposition jinja2 prometheus_client",
    }


def test_binding_the_service_by_an_ascii_name_loads_no_idna_codec() -> None:
    script = (
        "import sys\n"
        "from framework.service import listen_sockets\n"
        "for host in ('127.0.0.1', 'localhost'):\n"
        "    for sock in listen_sockets(host, 0):\n"
        "        sock.close()\n"
        "print(sorted(name for name in ('encodings.idna', 'stringprep') if name in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
