"""`[service] event_loop`: uvloop by default when installed, asyncio on request, a clear error when missing."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest

from framework.config import config_from_dict
from framework.errors import ConfigError
from framework.event_loops import new_event_loop, resolve_event_loop

uvloop = pytest.importorskip("uvloop", reason="uvloop is a dependency on CPython outside Windows")


def test_auto_picks_uvloop_when_it_is_installed() -> None:
    assert resolve_event_loop("auto") == "uvloop"
    loop = new_event_loop("auto")
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_asyncio_is_used_when_chosen() -> None:
    loop = new_event_loop("asyncio")
    try:
        assert not isinstance(loop, uvloop.Loop) and isinstance(loop, asyncio.AbstractEventLoop)
    finally:
        loop.close()


def test_without_uvloop_auto_falls_back_and_uvloop_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "uvloop" else real(name))
    assert resolve_event_loop("auto") == "asyncio"
    with pytest.raises(ConfigError, match=r"service\.event_loop: 'uvloop' is not installed"):
        resolve_event_loop("uvloop")


def test_an_unknown_event_loop_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"service\.event_loop"):
        config_from_dict({"service": {"event_loop": "trio"}}, tmp_path / "bot.toml", "bot.toml", {})
