"""The opsdroid side of the webhook benchmarks: an opsdroid bot whose webhook skill does what the baseline does.

`python -m tests.benchmarks.opsdroid_server --secret S [--emulator URL --api-key K --worker-id W --message M]`
starts opsdroid as `opsdroid start` does (`OpsDroid(config).run()`, its built-in aiohttp web server, its
event loop) on 127.0.0.1 with one class-based skill, `bench`, whose `@match_webhook("hooks")` route,
`/skill/bench/hooks`, verifies the Standard Webhooks HMAC (tests.benchmarks.standard_webhooks, the baseline's
own code), parses the JSON and returns `202 {"event_id"}`; with `--emulator` it first makes the same provider
call as the raw baseline, inline, on one shared ClientSession. It prints `READY {"port": ...}` once opsdroid
listens (with `"path"`, its route) and, on SIGTERM, a `RESULT` line with its CPU share, as tests.benchmarks.servers does.

It runs under the peer virtual environment's Python (tests.benchmarks.peers), where the project and its
dependencies are not installed: it imports the standard library, aiohttp, opsdroid and standard_webhooks only.
"""

from __future__ import annotations

import asyncio
import contextlib
import gettext
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web
from opsdroid.core import OpsDroid  # type: ignore[import-not-found]
from opsdroid.logging import configure_logging  # type: ignore[import-not-found]
from opsdroid.matchers import match_webhook  # type: ignore[import-not-found]
from opsdroid.skill import Skill  # type: ignore[import-not-found]

from tests.benchmarks.peer_protocol import cpu_seconds, emit, handler_settings, message_for
from tests.benchmarks.standard_webhooks import key_of, verify

__all__ = ["MODULE", "PATH", "BenchOpsDroid", "BenchSkill", "config", "main"]

SKILL = "bench"
WEBHOOK = "hooks"
PATH = f"/skill/{SKILL}/{WEBHOOK}"
"""Where opsdroid serves a `@match_webhook` skill: /skill/<skill name>/<webhook>."""
MODULE = "tests.benchmarks.opsdroid_server"
"""This module, as opsdroid's loader imports it for the skill (not `__main__`)."""


def _json_codec() -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    """orjson when the peer's environment has it (as chatwright and the raw baseline use it), else the stdlib:
    every side of a ratio parses and writes JSON with the same library."""
    try:
        import orjson
    except ImportError:
        return json.loads, lambda value: json.dumps(value, separators=(",", ":")).encode()
    return orjson.loads, orjson.dumps


class BenchSkill(Skill):  # type: ignore[misc]
    """Verify, parse, (call the provider), 202: the raw baseline's handler as an opsdroid webhook skill."""

    def __init__(self, opsdroid: Any, config: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(opsdroid, config, *args, **kwargs)
        self._key = key_of(config["secret"])
        self._emulator: str | None = config.get("emulator") or None
        self._loads, self._dumps = _json_codec()

    @match_webhook(WEBHOOK)  # type: ignore[untyped-decorator]
    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        msg_id = verify(self._key, request.headers, body)
        if msg_id is None:
            return web.json_response({"error": "bad_signature"}, status=401)
        data = self._loads(body)
        if self._emulator is not None:
            worker, chat = self.config["worker_id"], data["data"]["chat_id"]
            url = f"{self._emulator}/workers/{worker}/chats/{chat}/messages"
            payload = self._dumps({"message": message_for(self.config["message"], data["data"])})
            session: aiohttp.ClientSession = self.opsdroid.session
            async with session.post(
                url, data=payload, headers={"X-API-KEY": self.config["api_key"]}
            ) as answer:
                await answer.read()
                if answer.status != 201:
                    return web.json_response({"error": "provider"}, status=502)
        return web.Response(
            status=202,
            body=self._dumps({"event_id": msg_id}),
            content_type="application/json",
        )


class BenchOpsDroid(OpsDroid):  # type: ignore[misc]
    """opsdroid itself, plus what the benchmark needs around it: READY once it listens, the skill's shared
    ClientSession, and its CPU share from READY to the stop signal."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config=config)
        self.session: aiohttp.ClientSession | None = None
        self.cpu_share = 0.0
        self.cpu = 0.0
        self._since = (0.0, 0.0)

    async def start(self) -> None:
        self.create_task(self._announce())
        await super().start()

    async def _announce(self) -> None:
        # opsdroid starts its web server as one of its tasks and tells nobody when it listens: poll for it.
        while not self.web_server.runner.addresses:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        # Made whether or not there is a provider to call, as the baseline makes its session.
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100), headers={"Content-Type": "application/json"}
        )
        self._since = (time.monotonic(), cpu_seconds())
        emit("READY", {"port": self.web_server.runner.addresses[0][1], "path": PATH})

    async def stop(self) -> None:
        started, cpu_start = self._since
        self.cpu = cpu_seconds() - cpu_start
        self.cpu_share = self.cpu / max(time.monotonic() - started, 1e-9)
        if self.session is not None:
            await self.session.close()
        await super().stop()


def config(skill: dict[str, Any]) -> dict[str, Any]:
    """opsdroid's configuration: its web server on a free port of 127.0.0.1, the websocket connector (opsdroid
    will not start without a connector; this one only adds two routes), the skill, and logging at warning."""
    return {
        "logging": {"level": "warning", "path": False, "console": True, "rich": False},
        "web": {"host": "127.0.0.1", "port": 0},
        "connectors": {"websocket": {}},
        "skills": {SKILL: {"module": MODULE, **skill}},
    }


def main() -> None:
    skill = handler_settings(__doc__)
    if skill.pop("loop") == "uvloop":
        import uvloop

        # Before OpsDroid() exists: it takes the loop the policy makes.
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    settings = config(skill)
    gettext.install("opsdroid")  # what `opsdroid start` does first: opsdroid's modules log through `_`
    configure_logging(settings["logging"])
    with BenchOpsDroid(settings) as bot:
        with contextlib.suppress(SystemExit):  # opsdroid exits the process once it has stopped
            bot.run()
        emit("RESULT", {"cpu_share": bot.cpu_share, "cpu": bot.cpu})


if __name__ == "__main__":
    main()
