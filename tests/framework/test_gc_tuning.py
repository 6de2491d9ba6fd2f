"""`[service] gc`: the service tunes the garbage collector by default, and leaves it alone when told to."""

from __future__ import annotations

import gc
import linecache
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web

from framework.config import config_from_dict
from framework.errors import ConfigError
from framework.gc_tuning import YOUNG_THRESHOLD, drop_generated_sources, tune_collector_for
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    """The collector's settings are the whole process's: give the next test what this one found."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class Node:
    link: Node | None = None


def app_leaving_a_cycle_at_startup(cycles: list[weakref.ref[Node]]) -> web.Application:
    app = web.Application()

    async def leave_a_cycle(_: web.Application) -> None:
        node = Node()
        node.link = node  # garbage in a reference cycle: only the collector frees it
        cycles.append(weakref.ref(node))

    app.on_startup.append(leave_a_cycle)
    return app


async def test_tuned_raises_the_young_threshold_and_freezes_what_start_up_left(aiohttp_client: Any) -> None:
    cycles: list[weakref.ref[Node]] = []
    app = app_leaving_a_cycle_at_startup(cycles)
    old_generations = gc.get_threshold()[1:]
    frozen_before = gc.get_freeze_count()
    tune_collector_for(app, "tuned")
    assert gc.get_threshold() == (YOUNG_THRESHOLD, *old_generations)
    await aiohttp_client(app)
    assert gc.get_freeze_count() > frozen_before
    assert cycles[0]() is None  # start-up's garbage was collected first, not frozen forever


async def test_python_leaves_the_collector_alone(aiohttp_client: Any) -> None:
    app = app_leaving_a_cycle_at_startup([])
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    tune_collector_for(app, "python")
    await aiohttp_client(app)
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)


def test_the_default_is_tuned_and_an_unknown_mode_names_the_key(tmp_path: Path) -> None:
    assert config_from_dict({}, tmp_path / "bot.toml", "bot.toml", {}).service.gc == "tuned"
    with pytest.raises(ConfigError, match=r"service\.gc"):
        config_from_dict({"service": {"gc": "off"}}, tmp_path / "bot.toml", "bot.toml", {})


def generated_sources() -> list[str]:
    return [name for name in linecache.cache if name.startswith("<attrs generated")]


def test_drop_generated_sources_empties_what_attrs_left_in_linecache() -> None:
    @attrs.frozen
    class Point:
        x: int

    assert generated_sources()
    drop_generated_sources()
    assert generated_sources() == []
    assert Point(1) == Point(1)  # the generated methods themselves stay


RUN_UNTIL_THE_RUNTIME = """
import argparse, linecache, sys
import attrs
from framework import commands

@attrs.frozen
class Point:
    x: int

class Stop(Exception):
    pass

def generated():
    return sorted(name for name in linecache.cache if name.startswith("<attrs generated"))

def load_config(path):
    print("config", [name for name in generated() if "Point" in name])
    config = read_config(path)

    @attrs.frozen
    class Later:
        x: int

    return config

def runtime(config):
    print("runtime", [name for name in generated() if "Point" in name or "Later" in name])
    raise Stop

read_config = commands.load_config
commands.load_config = load_config
commands.Runtime = runtime
args = argparse.Namespace(config=sys.argv[1], host="127.0.0.1", port=0, processes=1, no_check=True, debug=False)
try:
    commands.run(args)
except Stop:
    pass
"""


def test_run_drops_the_generated_sources_before_it_reads_the_config_and_before_it_builds_the_runtime(
    tmp_path: Path,
) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "bot.db"}"\n')
    result = subprocess.run(
        [sys.executable, "-c", RUN_UNTIL_THE_RUNTIME, str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.splitlines() == ["config []", "runtime []"]
