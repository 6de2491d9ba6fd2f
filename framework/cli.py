"""The `chatwright` command: run, check, emit, send, dead-letters, replay, emulate, demo and new."""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from framework.errors import ChatwrightError, ConfigError
from framework.logs import TEXT_FORMAT

__all__ = ["main"]

EPILOG = {
    "run": """
        Serves the webhook routes, /healthz, /readyz, /metrics and /admin, fires the schedules and handles the
        inbox. SIGTERM (or Ctrl-C) stops intake, waits up to service.drain_timeout for running handlers, leaves
        what is unfinished in the inbox for the next start, and exits 0. It binds its port before starting
        anything (exit 1 if it cannot), and refuses to start (exit 2) when `chatwright check` finds plugins
        needing adapters or operations that are not configured, unless --no-check.

        example:
          chatwright run bot.toml
          chatwright run bot.toml --port 9000
        """,
    "check": """
        Validates the config and its wiring without starting anything: every key, the plugins (they are
        imported), their handlers and schedules with the next fire time, the adapters and the operations the
        plugins need from them, the webhook routes. Exit 0 when all is well, 2 with the list of problems.

        example:
          chatwright check bot.toml
        """,
    "emit": """
        Runs one event through the configured plugins in this process, waits until it and the events its
        handlers emit are handled, and prints what happened. Handlers talk to the configured adapters for real,
        and keep their state in the configured store; jobs they schedule are stored for `chatwright run` to fire.
        Exit 0 if every handler succeeded, 1 otherwise. Failing handlers are not retried here.

        example:
          chatwright emit bot.toml shift.published --data '{"id": "s1", "title": "Morning", "worker_ids": ["3158"]}'
        """,
    "send": """
        Signs a delivery the way the config's route at PATH verifies it (its first secret or token:
        standard-webhooks sets webhook-id/timestamp/signature, hmac-sha256 its header with the prefix, bearer
        the Authorization header, none nothing), posts it to the running service ([service] host and port, or
        --url) and prints the status and the answer. The delivery id (--id, else a fresh one) goes where the
        route reads it: the body's id_field, the id_header, or webhook-id. Sending the same --id again is
        answered 200 as a duplicate. Exit 0 on a 2xx answer, 1 otherwise or when the service is not reachable.

        example:
          chatwright send bot.toml /hooks/members --data '{"name": "Ada", "members": ["120915"]}'
          chatwright send bot.toml /hooks/members --data @member.json --id m-1
        """,
    "new": """
        Creates a plugin package in ./NAME: plugin.py (a handler that creates a chat and posts a message),
        bot.toml against the local emulator of --provider (a webhook route with a bearer token), test_plugin.py
        (passes with `pytest NAME/test_plugin.py`) and a README saying how to run it. An existing non-empty
        directory is refused.

        example:
          chatwright new mybot
          chatwright new alarmbot --provider groupalarm
        """,
    "dead-letters": """
        Lists the events that failed every attempt, newest first, with their last error.

        Reads the store of the config (or the store URL given instead), which must exist: it creates none.

        example:
          chatwright dead-letters bot.toml --limit 20
          chatwright dead-letters sqlite:////home/me/chatwright/.chatwright-demo/demo.db
        """,
    "replay": """
        Puts a dead letter back into the inbox with a fresh attempt count; the running service (or the next
        start) handles it again. Its handlers continue from the steps recorded so far: a chat or message an
        earlier attempt made is not made again. --fresh discards those records first, so every step acts again
        (use it when what the earlier attempts made was removed at the provider).

        example:
          chatwright replay bot.toml webhook:/hooks/shifts:msg_2Lh9
          chatwright replay bot.toml webhook:/hooks/shifts:msg_2Lh9 --fresh
        """,
    "emulate": """
        Serves the emulator of every installed adapter on one port, each under its prefix (the built-in ones:
        /roostedhr, /popsell, /devrev and /groupalarm), or one alone with --provider. Faults can be injected for every
        request (--latency, --error-rate, --rate-limit) or at run time with POST /<provider>/_emulator/faults.

        example:
          chatwright emulate --port 8090
          chatwright emulate --provider devrev --port 8091 --rate-limit 5
        """,
    "demo": """
        The main job of the README: starts the four emulators and the service with the four bots of bots/ on
        SQLite, then prints how to send signed sample webhooks (chatwright send-sample). No credentials needed.
        The emulators start empty, and so does the demo's store (--data-dir/demo.db, removed at every start
        unless --keep); the demo prints its store URL, for `chatwright dead-letters URL` and `replay URL ID`.

        example:
          chatwright demo
        """,
    "send-sample": """
        Sends a signed sample webhook to a running demo service, so you can watch a bot react.

        example:
          chatwright send-sample shift.published
          chatwright send-sample --list
        """,
}


DEMO_STORE = "demo.db"  # bots.demo.STORE_FILE; the framework does not import the bots to parse arguments
STORE_TARGET_HELP = (
    "the bot's TOML config file (its [store] is used), or a store URL (sqlite:////abs/path.db, redis://...);"
    " a SQLite file that does not exist is refused, never created"
)
DEBUG_HELP = "log debug details and show tracebacks"


def _common_options() -> argparse.ArgumentParser:
    """Options every command also takes after its name (`chatwright run bot.toml --debug`)."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: when not given after the command, the value given (or not) before it stands.
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return common


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str
) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=textwrap.dedent(EPILOG[name]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common_options()],
    )


def installed_version() -> str:
    """The version of the installed chatwright distribution (its metadata), as `chatwright --version` prints it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chatwright")
    except PackageNotFoundError:
        return "unknown (not installed as a distribution)"


class _VersionAction(argparse.Action):
    """`--version`: reads the distribution's metadata (importlib.metadata) only when asked, not at every start."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit", **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"chatwright {installed_version()}")
        parser.exit()


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatwright",
        description="chatwright: chat automation across providers. Webhooks and schedules in, plugins react, "
        "adapters act on RoostedHR, Popsell, DevRev and GroupAlarm.",
        epilog="Run `chatwright COMMAND --help` for a command's details and an example.",
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = _command(sub, "run", "run the service")
    run.add_argument("config", help="the bot's TOML config file")
    run.add_argument("--host", help="override service.host")
    run.add_argument("--port", type=int, help="override service.port")
    run.add_argument(
        "--processes",
        type=_positive,
        default=1,
        help="serve from N processes on one address (SO_REUSEPORT), all on the configured store: one per core"
        " (docs/scaling.md)",
    )
    run.add_argument(
        "--no-check",
        action="store_true",
        help="start even if plugins need adapters or operations that are not configured",
    )

    check = _command(sub, "check", "validate a config and its wiring")
    check.add_argument("config")

    emit = _command(sub, "emit", "run one event through the plugins and report")
    emit.add_argument("config")
    emit.add_argument("type", help="the event type, e.g. shift.published")
    emit.add_argument("--data", default="{}", help="the event data as a JSON object")

    send = _command(
        sub, "send", "sign a delivery as a configured route verifies it and post it to the service"
    )
    send.add_argument("config", help="the bot's TOML config file")
    send.add_argument("path", help="the webhook route's path, e.g. /hooks/members")
    send.add_argument("--data", default="{}", help="the body as a JSON object, or @file.json")
    send.add_argument("--id", dest="delivery_id", help="the delivery id (default: a fresh one)")
    send.add_argument(
        "--header", action="append", metavar="NAME=VALUE", help="an extra header (may be given again)"
    )
    send.add_argument("--url", help="the service's base URL (default: from [service] host and port)")

    letters = _command(sub, "dead-letters", "list dead letters")
    letters.add_argument("config", help=STORE_TARGET_HELP)
    letters.add_argument("--limit", type=int, default=50)
    letters.add_argument("--json", action="store_true", help="print JSON instead of text")

    replay = _command(sub, "replay", "re-queue a dead letter")
    replay.add_argument("config", help=STORE_TARGET_HELP)
    replay.add_argument("event_id")
    replay.add_argument(
        "--fresh", action="store_true", help="discard the event's recorded steps: every step acts again"
    )

    emulate = _command(sub, "emulate", "serve the provider emulators")
    emulate.add_argument("--host", default="127.0.0.1")
    emulate.add_argument("--port", type=int, default=8090)
    emulate.add_argument("--provider", help="serve only this provider's emulator, at the root")
    emulate.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    emulate.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 503")
    emulate.add_argument("--rate-limit", type=float, default=None, help="requests per second before 429s")

    demo = _command(sub, "demo", "run the four bots against the emulators")
    demo.add_argument("--port", type=int, default=8080, help="the service's port")
    demo.add_argument("--emulator-port", type=int, default=8090)
    demo.add_argument(
        "--data-dir", default=".chatwright-demo", help=f"where the demo's SQLite file ({DEMO_STORE}) lives"
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="keep the store of the last start instead of starting empty (the emulators start empty anyway)",
    )
    demo.add_argument("--send-samples", action="store_true", help="send every sample webhook once at start")

    sample = _command(sub, "send-sample", "send a signed sample webhook to the demo")
    sample.add_argument("name", nargs="?", help="which sample (see --list)")
    sample.add_argument("--list", action="store_true", help="list the samples")
    sample.add_argument("--url", default="http://127.0.0.1:8080", help="the service's base URL")

    new = _command(sub, "new", "scaffold a plugin package with its config, test and README")
    new.add_argument("name", help="the package (and directory) name, a Python identifier")
    new.add_argument(
        "--provider",
        default="roostedhr",
        help="the provider the bot talks to: an installed adapter, e.g. devrev (default: roostedhr)",
    )
    return parser


def _configure_logging(debug: bool, level: str = "INFO") -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else getattr(logging, level),
        format=TEXT_FORMAT,
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.debug)
    from framework import commands as impl

    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "run": impl.run,
        "check": impl.check,
        "emit": impl.emit,
        "dead-letters": impl.dead_letters,
        "replay": impl.replay,
        "emulate": impl.emulate,
        "demo": impl.demo,
        "send-sample": impl.send_sample,
        "send": impl.send,
        "new": impl.new,
    }
    try:
        return commands[args.command](args)
    except ConfigError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except ChatwrightError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if args.debug:
            raise
        print(f"error: {type(error).__name__}: {error} (run with --debug for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
