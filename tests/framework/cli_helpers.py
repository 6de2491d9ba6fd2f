"""A bot directory for CLI tests: a plugin module, its bot.toml, and a dead letter in its store."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.events import new_event
from framework.store.sqlite import SQLiteStore

__all__ = ["PLUGIN", "bot", "dead_letter"]

PLUGIN = """
from framework import Context, Event, Plugin, InvalidRequest

plugin = Plugin("clitest")
plugin.requires("chat", "create_chat")

@plugin.on("ok.thing")
async def fine(event: Event, ctx: Context) -> None:
    ctx.log.info("fine")
    await ctx.emit("ok.followup", {"from": event.id})

@plugin.on("ok.followup")
async def followup(event: Event, ctx: Context) -> None:
    await ctx.state.set("followed", event.data["from"])

@plugin.on("plan.later")
async def plan(event: Event, ctx: Context) -> None:
    await ctx.schedule.after(3600, "ok.thing", {"planned": True}, id="later-1")

@plugin.on("bad.thing")
async def broken(event: Event, ctx: Context) -> None:
    raise InvalidRequest("name: too long", provider="roostedhr", status=422)
"""


@pytest.fixture
def bot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cli_plugin.py").write_text(PLUGIN)
    (tmp_path / "bot.toml").write_text(
        '[adapters.chat]\nprovider = "roostedhr"\nbase_url = "http://127.0.0.1:9"\napi_key = "k"\nworker_id = "1"\n'
        '[store]\nurl = "sqlite:///bot.db"\n'
        '[[schedules]]\nid = "daily"\ncron = "0 8 * * *"\ntimezone = "Europe/Berlin"\nevent = "ok.thing"\n'
        '[plugins]\nmodules = ["cli_plugin"]\nentry_points = false\n'
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path / "bot.toml"


async def dead_letter(bot: Path) -> str:
    store = SQLiteStore(f"sqlite:///{bot.parent / 'bot.db'}")
    await store.open()
    try:
        event = new_event("bad.thing", {"n": 1})
        await store.append(event)
        await store.claim("w", 1, lease=30)
        await store.dead_letter(event.id, "InvalidRequest: name: too long")
        return event.id
    finally:
        await store.close()
