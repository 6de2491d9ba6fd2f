"""What each `chatwright` sub-command does (the argument parsing lives in framework.cli)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from aiohttp import web

from framework.adapter_registry import EmulatorOptions, available_providers, find_adapter
from framework.admin.access import admin_warnings
from framework.config import Config, load_config
from framework.errors import ChatwrightError, ConfigError
from framework.event_loops import new_event_loop, resolve_event_loop
from framework.events import Event, new_event
from framework.gc_tuning import drop_generated_sources, tune_collector_for
from framework.logs import use_format
from framework.runtime import Runtime, build_providers, needs_problems, resolve_plugins
from framework.store.factory import open_store

__all__ = ["check", "dead_letters", "demo", "emit", "emulate", "new", "replay", "run", "send", "send_sample"]


def run(args: argparse.Namespace) -> int:
    drop_generated_sources()  # what the imports generated: reading the config reuses that memory
    config = load_config(args.config)
    drop_generated_sources()  # what the adapters' imports and the config's hooks generated: the runtime reuses it
    use_format(config.logging.format)
    logging.getLogger().setLevel(logging.DEBUG if args.debug else config.service.log_level)
    from framework.service import listen_sockets

    host = args.host or config.service.host
    port = args.port if args.port is not None else config.service.port
    if args.processes > 1 and ":memory:" in config.store.url:
        print(
            "error: --processes needs a store the processes share (a SQLite file or Redis)", file=sys.stderr
        )
        return 2
    # Bind first: a process that cannot listen starts nothing (no schedules written to a shared job store).
    sockets = listen_sockets(host, port, reuse_port=args.processes > 1)
    if args.processes == 1:
        return _serve(args, config, host, sockets)
    from framework import processes  # a service of one process never loads the supervisor

    # The supervisor keeps its sockets bound, never listening: the port stays reserved (port 0 resolved once)
    # for every serving process it starts, and no connection is queued where nobody accepts it.
    port = sockets[0].getsockname()[1]

    def serve(index: int) -> int:
        for sock in sockets:
            sock.close()
        try:
            own = listen_sockets(host, port, reuse_port=True)
        except ChatwrightError as error:
            print(f"error: {error}", file=sys.stderr)
            return processes.USAGE_ERROR
        return _serve(args, config, host, own, index)

    print(
        f"chatwright: {args.processes} processes serve {config.name} (supervisor pid {os.getpid()})",
        flush=True,
    )
    try:
        supervisor = processes.Supervisor(
            args.processes, serve, stop_timeout=config.service.drain_timeout + 5.0
        )
        return supervisor.run()
    finally:
        for sock in sockets:
            sock.close()


def _serve(
    args: argparse.Namespace, config: Config, host: str, sockets: list[socket.socket], index: int = 0
) -> int:
    """Run the service on `sockets` until it is stopped: process `index` of `args.processes`."""
    from framework.service import create_app

    try:
        loop_name = resolve_event_loop(config.service.event_loop)
        loop = new_event_loop(loop_name)
        asyncio.set_event_loop(loop)
        runtime = Runtime(config)
        problems = [] if args.no_check else needs_problems(config, runtime.plugins, runtime.providers)
        if problems:
            for problem in problems:
                print(f"error: {problem}", file=sys.stderr)
            print("error: not started (see `chatwright check`; --no-check starts anyway)", file=sys.stderr)
            return 2
        app = create_app(runtime)
        tune_collector_for(app, config.service.gc)
        for warning in admin_warnings(config.service.admin_token, config.service.admin_open, host):
            logging.getLogger("chatwright.service").warning("%s", warning)
        bound = sockets[0].getsockname()[1]
        web.run_app(
            app,
            sock=sockets,
            shutdown_timeout=min(5.0, config.service.drain_timeout),
            print=lambda _: print(
                f"chatwright: serving {config.name} on http://{host}:{bound} ({loop_name})"
                + (f", process {index + 1} of {args.processes}" if args.processes > 1 else ""),
                flush=True,
            ),
            access_log=None,
            loop=loop,
        )
    finally:
        for sock in sockets:
            sock.close()
    return 0


def check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    problems: list[str] = []
    warnings: list[str] = []
    plugins, _ = resolve_plugins(config)
    providers = build_providers(config)
    print(f"checking {config.name}")
    print(f"store: {config.store.url}")
    print("adapters:")
    for name, provider in providers.items():
        caps = ", ".join(sorted(c.value for c in provider.capabilities))
        print(f"  {name} ({config.adapters[name].provider}): {caps}")
    from framework.message_intake import intake_report

    print("messages (what people write, as chat.message events):")
    intake, intake_warnings = intake_report(config, plugins, providers)
    for line in intake:
        print(f"  {line.adapter} ({line.provider}): {line.how} - {line.detail}")
    warnings += intake_warnings
    print("plugins:")
    for plugin in plugins:
        print(f"  {plugin.name}")
        for handler in plugin.handlers:
            suffix = " (filtered)" if handler.filter else ""
            typed = f" (payload: {handler.payload.__name__})" if handler.payload is not None else ""
            command = f" (command {handler.command.name})" if handler.command is not None else ""
            print(f"    on {handler.pattern}{suffix}{typed}{command} -> {handler.name}")
    problems += needs_problems(config, plugins, providers)
    from framework.triggers.webhook_routes import route_warnings

    print("webhooks:")
    for index, route in enumerate(config.webhooks):
        target = route.event or f"<body.{route.event_field or 'type'}>"
        print(f"  POST {route.path} -> {target} (verify: {route.verify.scheme})")
        warnings += route_warnings(route, f"{config.name}: webhooks[{index}]")
    from framework.schedules.service import ScheduleService, schedule_problems

    print("schedules:")
    crons = [cron for plugin in plugins for cron in plugin.crons]
    for index, schedule in enumerate(config.schedules):
        problems += schedule_problems(schedule, f"{config.name}: schedules[{index}]")
    for cron in crons:
        problems += schedule_problems(cron, f"plugin {cron.plugin}: @plugin.cron {cron.id!r}")
    service = ScheduleService(
        open_store("sqlite://:memory:"), "sqlite://:memory:", [*config.schedules, *crons]
    )
    for schedule_id, when in service.next_fires():
        print(f"  {schedule_id}: next fire {when.isoformat() if when else 'never'}")
    handlers = [handler for plugin in plugins for handler in plugin.handlers]
    for route in config.webhooks:
        if route.event and not any(handler.matches_type(route.event) for handler in handlers):
            warnings.append(
                f"webhook {route.path} turns requests into {route.event!r}, which no handler listens to"
            )
    for schedule in config.schedules:
        if not any(handler.matches_type(schedule.event) for handler in handlers):
            warnings.append(f"schedule {schedule.id!r} fires {schedule.event!r}, which no handler listens to")
    warnings += admin_warnings(config.service.admin_token, config.service.admin_open, config.service.host)
    for warning in dict.fromkeys(
        warnings
    ):  # each once: several needs of one plugin can hit one missing adapter
        print(f"warning: {warning}")
    if problems:
        for problem in dict.fromkeys(problems):
            print(f"error: {problem}", file=sys.stderr)
        return 2
    print("all good")
    return 0


def emit(args: argparse.Namespace) -> int:
    try:
        data = json.loads(args.data)
    except json.JSONDecodeError as error:
        raise ConfigError(f"--data: not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError("--data: expected a JSON object, e.g. '{\"id\": 1}'")
    config = load_config(args.config)
    use_format(config.logging.format)
    return asyncio.run(_emit(config, args.type, data))


async def _emit(config: Config, event_type: str, data: dict[str, Any]) -> int:
    from framework.emitting import run_inline

    results = await run_inline(config, new_event(event_type, data, source="cli"))
    failed = False
    for event, outcome in results:
        _print_outcome(event, outcome)
        failed = failed or not outcome.ok
    return 1 if failed else 0


def _print_outcome(event: Event, outcome: Any) -> None:
    print(f"event {event.type} ({event.id})")
    if not outcome.succeeded and not outcome.failures:
        print("  no handler matched")
    for name in outcome.succeeded:
        print(f"  ok      {name}")
    for failure in outcome.failures:
        print(f"  FAILED  {failure.handler}: {type(failure.error).__name__}: {failure.error}")


STORE_SCHEMES = ("sqlite://", "redis://", "rediss://")


def existing_store_url(target: str, command: str) -> str:
    """The store `dead-letters` and `replay` work on: the `[store] url` of a config file, or a store URL given
    in its place (`sqlite:////abs/demo.db`, `redis://...`). A SQLite file that does not exist is refused, naming
    it: these commands create nothing (opening a missing file would create an empty store and report that it
    holds no dead letters)."""
    url = target if target.startswith(STORE_SCHEMES) else load_config(target).store.url
    if url.startswith("sqlite://"):
        from framework.store.urls import sqlite_path

        path = sqlite_path(url)
        if path == ":memory:":
            raise ConfigError(
                f"{target}: the store is in memory ({url}); there is nothing to read from outside"
            )
        if not Path(path).is_file():
            raise ChatwrightError(
                f"no store at {Path(path).resolve()} ({url}): nothing has run with it, and `chatwright {command}`"
                " creates none. Is it the store of the running service? (`chatwright demo` prints its own.)"
            )
    return url


def dead_letters(args: argparse.Namespace) -> int:
    url = existing_store_url(args.config, "dead-letters")

    async def fetch() -> list[Any]:
        store = open_store(url)
        await store.open()
        try:
            return await store.dead_letters(args.limit)
        finally:
            await store.close()

    letters = asyncio.run(fetch())
    if args.json:
        from framework.events import event_to_dict

        print(
            json.dumps(
                [
                    {
                        "event": event_to_dict(d.event),
                        "attempts": d.attempts,
                        "error": d.error,
                        "failed_at": d.failed_at.isoformat(),
                    }
                    for d in letters
                ],
                indent=2,
            )
        )
        return 0
    if not letters:
        print("no dead letters")
        return 0
    for letter in letters:
        print(
            f"{letter.event.id}  {letter.event.type}  attempts={letter.attempts}  failed {letter.failed_at:%Y-%m-%d %H:%M:%S}Z"
        )
        print(f"    {letter.error}")
    return 0


def replay(args: argparse.Namespace) -> int:
    url = existing_store_url(args.config, "replay")

    async def go() -> bool:
        store = open_store(url)
        await store.open()
        try:
            return await store.replay(args.event_id, fresh=args.fresh)
        finally:
            await store.close()

    if not asyncio.run(go()):
        print(
            f"error: no dead letter with id {args.event_id!r} (see `chatwright dead-letters {args.config}`)",
            file=sys.stderr,
        )
        return 1
    print(f"re-queued {args.event_id}" + (" (its recorded steps discarded)" if args.fresh else ""))
    return 0


def _emulator_prefixes() -> dict[str, str]:
    """Where `chatwright emulate` mounts each installed adapter's emulator, by provider name."""
    return {
        name: spec.emulator_prefix or f"/{name}"
        for name, spec in sorted(available_providers().items())
        if spec.emulator is not None
    }


def emulator_app(provider: str | None, options: EmulatorOptions) -> web.Application:
    """All emulators under their prefixes on one app, or one provider's emulator at the root."""
    if provider is not None:
        spec = find_adapter(provider)
        if spec.emulator is None:
            raise ConfigError(f"provider {provider!r} has no emulator")
        return spec.emulator(options)
    root = web.Application()
    mounted = _emulator_prefixes()
    for name, spec in sorted(available_providers().items()):
        if spec.emulator is not None:
            root.add_subapp(mounted[name], spec.emulator(options))

    async def index(_: web.Request) -> web.Response:
        return web.json_response({"emulators": mounted})

    root.router.add_get("/", index)
    return root


def emulate(args: argparse.Namespace) -> int:
    options = EmulatorOptions(latency=args.latency, error_rate=args.error_rate, rate_limit=args.rate_limit)
    app = emulator_app(args.provider, options)
    where = f"/{args.provider}" if args.provider else ", ".join(_emulator_prefixes().values())
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        print=lambda _: print(
            f"chatwright: emulators ({where}) on http://{args.host}:{args.port}", flush=True
        ),
        access_log=None,
    )
    return 0


DEMO_ENTRY_POINT_GROUP = "chatwright.demo"


def _demo_module() -> Any:
    """The demo, found through the entry-point group `chatwright.demo` (the bots package registers it)."""
    found = sorted(entry_points(group=DEMO_ENTRY_POINT_GROUP), key=lambda entry: entry.name)
    if not found:
        raise ConfigError(
            f"no demo is installed (entry-point group {DEMO_ENTRY_POINT_GROUP}); the bots package registers it:"
            " install the project with `make setup` or `pip install -e .`"
        )
    try:
        return found[0].load()
    except ImportError as error:
        raise ConfigError(f"the demo {found[0].value} did not import: {error}") from None


def demo(args: argparse.Namespace) -> int:
    code: int = _demo_module().run_demo(
        port=args.port,
        emulator_port=args.emulator_port,
        data_dir=args.data_dir,
        keep=args.keep,
        send_samples=args.send_samples,
    )
    return code


def send_sample(args: argparse.Namespace) -> int:
    code: int = _demo_module().send_sample(args.name, list_only=args.list, url=args.url)
    return code


def send(args: argparse.Namespace) -> int:
    from framework import sending

    data = sending.parse_data(args.data)
    headers = sending.parse_headers(args.header)
    config = load_config(args.config)
    route = sending.find_route(config, args.path)
    try:
        delivery = sending.sign_for_route(route, data, delivery_id=args.delivery_id, headers=headers)
    except ValueError as error:  # a route `chatwright check` refuses, e.g. hmac-sha256 without its header
        raise ConfigError(f"{config.name}: webhook {route.path}: cannot sign: {error}") from None
    url = args.url or sending.service_url(config)
    answer = asyncio.run(sending.post_delivery(url, delivery))
    shown = f" (delivery id {delivery.delivery_id})" if delivery.delivery_id else ""
    print(f"POST {url.rstrip('/')}{delivery.path}{shown} -> {answer.status}")
    print(answer.body if isinstance(answer.body, str) else json.dumps(answer.body, indent=2))
    return 0 if 200 <= answer.status < 300 else 1


def new(args: argparse.Namespace) -> int:
    from framework.scaffold import scaffold

    directory = scaffold(Path.cwd(), args.name, args.provider)
    print(f"created {directory}/: plugin.py, bot.toml, test_plugin.py, README.md")
    print(f"next: read {args.name}/README.md, or run `pytest {args.name}/test_plugin.py`")
    return 0
