"""What every peer's server module shares: its command line, and the READY/RESULT lines it prints.

Standard library only: the peers' servers run under their own virtual environment's Python (tests.benchmarks.peers),
where neither the project nor its dependencies are installed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

__all__ = ["cpu_seconds", "emit", "handler_settings", "message_for"]


def handler_settings(description: str | None) -> dict[str, str]:
    """The command line of a peer's server: the signing secret and, for the end-to-end benchmark, the provider
    call to make ("emulator" is empty when there is none)."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0] if description else None)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--emulator", default="", help="RoostedHR emulator URL: one provider call per hook")
    parser.add_argument("--api-key", default="")
    parser.add_argument("--worker-id", default="")
    parser.add_argument("--message", default="")
    parser.add_argument(
        "--loop", choices=["asyncio", "uvloop"], default="asyncio", help="event loop (asyncio peers only)"
    )
    args = parser.parse_args()
    return {
        "secret": args.secret,
        "emulator": args.emulator,
        "api_key": args.api_key,
        "worker_id": args.worker_id,
        "message": args.message,
        "loop": args.loop,
    }


def message_for(message: str, data: dict[str, Any]) -> str:
    """The message to post for a webhook's `data`, as tests.benchmarks.plugins.message_for builds it: with the
    load generator's send time, when the delivery carries one, for the emulator's latency figures."""
    sent = data.get("sent")
    return message if sent is None else f"{message} {sent}"


def cpu_seconds() -> float:
    """CPU time of this process so far, user and system."""
    times = os.times()
    return times.user + times.system


def emit(prefix: str, payload: dict[str, Any]) -> None:
    """One protocol line (`READY {...}` or `RESULT {...}`) on stdout, flushed."""
    sys.stdout.write(f"{prefix} {json.dumps(payload)}\n")
    sys.stdout.flush()
