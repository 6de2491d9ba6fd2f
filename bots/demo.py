"""The demo: the four bots in one service against the local emulators, on SQLite, with no credentials.

`chatwright demo` composes the four `bots/*/bot.toml` files into one config (their adapters, webhook routes,
schedules and plugins side by side), serves the provider emulators on one port and the service on another, and
prints how to send signed sample webhooks with `chatwright send-sample` and how to write into the bots' chats as
a person (the emulators' `/_emulator/messages`; the DevRev emulator sends those comments to the service's route).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from bots.samples import WebhookSample
from framework import jsoncodec
from framework.adapter_registry import EmulatorOptions
from framework.config import Config, config_from_dict
from framework.errors import ChatwrightError, ConfigError
from framework.event_loops import new_event_loop
from framework.sending import post_delivery

__all__ = ["BOTS", "STORE_FILE", "all_samples", "compose_config", "prepare_store", "run_demo", "send_sample"]

BOTS = ("shiftchat", "ambassador", "escalation", "eventrooms")
BOTS_DIR = Path(__file__).resolve().parent
PROVIDER_PREFIXES = {
    "ROOSTED": "roostedhr",
    "POPSELL": "popsell",
    "DEVREV": "devrev",
    "GROUPALARM": "groupalarm",
}


CONVERSATIONS = (
    ("shiftchat, after shift.published: a worker asks when", "roostedhr", "120915", "when"),
    (
        "escalation, after devrev.work_updated: Grace Hopper acknowledges in the DM",
        "devrev",
        "don:identity:dvrv-us-1:devo/0:devu/2",
        "ack",
    ),
    ("ambassador, after match.created: the customer writes", "popsell", "4", "Which size?"),
)
"""What the demo's instructions show a person writing: (what, emulator, sender id, text)."""

STORE_FILE = "demo.db"
"""The demo's SQLite store, in its data directory (`--data-dir`, `.chatwright-demo` by default)."""


def prepare_store(data_dir: str | Path, *, keep: bool = False) -> str:
    """The URL of the demo's store in `data_dir`, removed first unless `keep`.

    The emulators keep their state in memory, so they start empty every time; a store kept from an earlier
    start would remember chats they never had (a shift's update PATCHes a chat that does not exist and is
    dead-lettered, a match already handled does nothing, a planned reminder fires into nothing). Only the
    demo's own files are removed, never anything else in the directory.
    """
    directory = Path(data_dir).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / STORE_FILE
    if not keep:
        for suffix in ("", "-wal", "-shm", "-journal"):
            database.with_name(database.name + suffix).unlink(missing_ok=True)
    return f"sqlite:///{database}"


def demo_environment(emulator_port: int, store_url: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The bots' `${NAME}` values for the demo: base URLs on the local emulators and the demo's store."""
    env = dict(environ)
    for variable, provider in PROVIDER_PREFIXES.items():
        env[f"{variable}_BASE_URL"] = f"http://127.0.0.1:{emulator_port}/{provider}"
    env["CHATWRIGHT_DEMO_STORE"] = store_url
    return env


def compose_config(
    bot_tomls: Sequence[Path], *, port: int, store_url: str, environ: Mapping[str, str]
) -> Config:
    """One config running every bot: their adapters, webhooks, schedules and plugins side by side."""
    merged: dict[str, Any] = {
        "service": {"host": "127.0.0.1", "port": port, "poll_interval": 0.1},
        "store": {"url": "${CHATWRIGHT_DEMO_STORE}"},
        "adapters": {},
        "webhooks": [],
        "schedules": [],
        "plugins": {"modules": [], "entry_points": False},
        # chats are polled every 2 s (instead of 10) so that a bot answers what you write at once
        "conversations": {"poll_interval": 2.0},
    }
    problems: list[str] = []
    for path in bot_tomls:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        for name, table in raw.get("adapters", {}).items():
            if name in merged["adapters"] and merged["adapters"][name] != table:
                problems.append(f"{path}: adapters.{name}: differs from another bot's adapter of that name")
            merged["adapters"][name] = table
        merged["webhooks"] += raw.get("webhooks", [])
        merged["schedules"] += raw.get("schedules", [])
        plugins = raw.get("plugins", {})
        merged["plugins"]["modules"] += plugins.get("modules", [])
        merged["plugins"].update({k: v for k, v in plugins.items() if isinstance(v, dict)})
        conversations = raw.get("conversations", {})
        watch = {**merged["conversations"].get("watch", {}), **conversations.get("watch", {})}
        merged["conversations"].update({**conversations, **({"watch": watch} if watch else {})})
    if problems:
        raise ConfigError(problems)
    return config_from_dict(merged, BOTS_DIR / "demo.toml", "demo (bots/*/bot.toml)", environ)


def all_samples() -> dict[str, WebhookSample]:
    """Every bot's sample deliveries, by name."""
    samples: dict[str, WebhookSample] = {}
    for bot in BOTS:
        module = importlib.import_module(f"bots.{bot}.samples")
        for sample in module.SAMPLES:
            samples[sample.name] = sample
    return samples


def _instructions(port: int, emulator_port: int, store_url: str, kept: bool) -> str:
    lines = [
        "",
        "chatwright demo is running:",
        f"  service    http://127.0.0.1:{port}   (/healthz, /readyz, /metrics, /admin)",
        f"  emulators  http://127.0.0.1:{emulator_port}  (/roostedhr, /popsell, /devrev, /groupalarm)",
        "",
        "In another terminal, send a signed sample webhook and watch the log here:",
    ]
    for name, sample in sorted(all_samples().items()):
        lines.append(f"  .venv/bin/chatwright send-sample {name:<28} # {sample.description}")
    lines += [
        "",
        "Then write as a person into the chat a bot made, and watch the bot answer in the log here:",
    ]
    for what, provider, sender, text in CONVERSATIONS:
        body = jsoncodec.dumps_text({"chat_id": "latest", "sender_id": sender, "text": text})
        lines.append(f"  # {what}")
        lines.append(
            f"  curl -s -X POST http://127.0.0.1:{emulator_port}/{provider}/_emulator/messages"
            f" -H 'Content-Type: application/json' -d '{body}'"
        )
    lines += [
        "",
        "See what the bots did at the providers (every request the emulators received):",
        f"  curl -s http://127.0.0.1:{emulator_port}/roostedhr/_emulator/requests",
        f"Recent events and dead letters: http://127.0.0.1:{port}/admin, or from the command line:",
        f"  .venv/bin/chatwright dead-letters {store_url}",
        f"  .venv/bin/chatwright replay {store_url} EVENT_ID",
        (
            "The store was kept from the last start (--keep); the emulators start empty, so chats it remembers"
            " do not exist there."
            if kept
            else "The demo starts with an empty store every time (--keep keeps the last one)."
        ),
        "Stop with Ctrl-C.",
        "",
    ]
    return "\n".join(lines)


async def _serve(port: int, emulator_port: int, data_dir: str, keep: bool, send_samples: bool) -> None:
    from framework.commands import emulator_app
    from framework.gc_tuning import tune_collector_for
    from framework.runtime import Runtime
    from framework.service import create_app

    emulators = web.AppRunner(emulator_app(None, EmulatorOptions()), access_log=None)
    await emulators.setup()
    # Bound before the store is reset: a second demo on the same ports stops here, leaving the first one's alone.
    await web.TCPSite(emulators, "127.0.0.1", emulator_port).start()
    store_url = prepare_store(data_dir, keep=keep)
    env = demo_environment(emulator_port, store_url, os.environ)
    config = compose_config(
        [BOTS_DIR / bot / "bot.toml" for bot in BOTS], port=port, store_url=store_url, environ=env
    )
    app = create_app(Runtime(config))
    tune_collector_for(app, config.service.gc)  # as `chatwright run` does
    service = web.AppRunner(app, access_log=None)
    await service.setup()
    try:
        await web.TCPSite(service, "127.0.0.1", port).start()
        await _push_devrev_comments(config, port, emulator_port)
        print(_instructions(port, emulator_port, store_url, keep), flush=True)
        if send_samples:
            for name in all_samples():  # in each bot's own order: a shift is published before it is renamed
                await _send(name, f"http://127.0.0.1:{port}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await service.cleanup()
        await emulators.cleanup()


async def _push_devrev_comments(config: Config, port: int, emulator_port: int) -> None:
    """Point the DevRev emulator's webhooks at the route that turns DM comments into chat messages."""
    import aiohttp

    for route in config.webhooks:
        secrets = getattr(route.verify, "secrets", ())
        if route.adapter is None or not secrets:
            continue
        body = {"url": f"http://127.0.0.1:{port}{route.path}", "secret": secrets[0]}
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"http://127.0.0.1:{emulator_port}/devrev/_emulator/webhook", json=body) as answer,
        ):
            answer.raise_for_status()


def _service_loop() -> asyncio.AbstractEventLoop:
    return new_event_loop("auto")  # what `chatwright run` picks by default


def run_demo(
    *, port: int, emulator_port: int, data_dir: str, keep: bool = False, send_samples: bool = False
) -> int:
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=_service_loop) as runner:
        runner.run(_serve(port, emulator_port, data_dir, keep, send_samples))
    return 0


async def _send(name: str, url: str) -> int:
    samples = all_samples()
    if name not in samples:
        raise ConfigError(f"no sample named {name!r}; choose one of: {', '.join(sorted(samples))}")
    delivery = samples[name].sign()
    try:
        answer = await post_delivery(url, delivery)
    except ChatwrightError as error:
        print(f"error: {error} (is `chatwright demo` running?)", file=sys.stderr)
        return 1
    body = answer.body if isinstance(answer.body, str) else jsoncodec.dumps_text(answer.body)
    print(f"{name}: POST {delivery.path} -> {answer.status} {body}")
    return 0 if answer.status < 300 else 1


def send_sample(name: str | None, *, list_only: bool, url: str) -> int:
    samples = all_samples()
    if list_only or name is None:
        for sample_name, sample in sorted(samples.items()):
            print(f"{sample_name:<30} POST {sample.path:<22} {sample.description}")
        return 0
    return asyncio.run(_send(name, url))
