"""The Errbot side of the webhook benchmarks: an Errbot whose webhook plugin does what the baseline does.

`python -m tests.benchmarks.errbot_server --secret S [--emulator URL --api-key K --worker-id W --message M]`
starts Errbot as `errbot` does (`errbot.bootstrap`: its plugin manager, its core plugins, the `Null` backend,
which needs no chat service) after configuring its `Webserver` core plugin on a free port of 127.0.0.1 and one
plugin, `Bench`, through its storage, as `errbot --storage-merge core` does. The Webserver plugin serves Errbot's
Flask app on werkzeug's `ThreadedWSGIServer` (a thread per connection) in a thread beside the bot; `Bench`'s
`@webhook(PATH, raw=True)` route verifies the Standard Webhooks HMAC (tests.benchmarks.standard_webhooks, the
baseline's own code), parses the JSON and returns a Flask `Response` `202 {"event_id"}`; with `--emulator` it
first makes the same provider call as the raw baseline, inline and synchronously (it runs in werkzeug's
thread), on one shared `requests.Session`. It prints `READY {"port": ...}` once every plugin is active and the
web server listens (with `"path"`, its route) and, on SIGTERM, a `RESULT` line with its CPU share, as
tests.benchmarks.servers does.

It runs under the peer virtual environment's Python (tests.benchmarks.peers), where the project and its
dependencies are not installed: it imports the standard library, Errbot and what it brings (Flask, requests)
and standard_webhooks only.
"""

from __future__ import annotations

import json
import logging
import signal
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import requests  # type: ignore[import-untyped,import-not-found]
from errbot import BotPlugin, webhook  # type: ignore[import-not-found]
from errbot.bootstrap import get_storage_plugin, setup_bot  # type: ignore[import-not-found]
from errbot.storage import StoreMixin  # type: ignore[import-not-found]
from flask import Response  # type: ignore[import-not-found]
from requests.adapters import HTTPAdapter  # type: ignore[import-untyped,import-not-found]

from tests.benchmarks.peer_protocol import cpu_seconds, emit, handler_settings, message_for
from tests.benchmarks.standard_webhooks import key_of, verify

__all__ = ["MODULE", "PATH", "PLUGIN", "BenchPlugin", "bot_config", "main", "storage"]

PATH = "/bench/hooks"
PLUGIN = "Bench"
MODULE = "tests.benchmarks.errbot_server"
"""This module, as the plugin file Errbot loads imports it for the plugin class (not `__main__`)."""
POOL = 100
"""The provider session's connection pool: more than the 64 webhook connections, as the baseline's limit=100."""


def _json(payload: dict[str, str], status: int, compact: bool) -> Any:
    """The baseline's answers: aiohttp's `json_response` (401, 502) and its compact 202 body."""
    if compact:
        return Response(
            json.dumps(payload, separators=(",", ":")).encode(),
            status=status,
            content_type="application/json",
        )
    return Response(
        json.dumps(payload).encode(), status=status, content_type="application/json; charset=utf-8"
    )


class BenchPlugin(BotPlugin):  # type: ignore[misc]
    """Verify, parse, (call the provider), 202: the raw baseline's handler as an Errbot webhook."""

    def get_configuration_template(self) -> dict[str, str]:
        return {"secret": "", "emulator": "", "api_key": "", "worker_id": "", "message": ""}

    def activate(self) -> None:
        super().activate()
        self._key = key_of(self.config["secret"])
        self._emulator: str = self.config["emulator"]
        # Made whether or not there is a provider to call, as the baseline makes its session. Not trust_env:
        # aiohttp's session reads no proxy settings or .netrc, requests' would on every call.
        self._session = requests.Session()
        self._session.trust_env = False
        self._session.headers["Content-Type"] = "application/json"
        self._session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=POOL))

    def deactivate(self) -> None:
        self._session.close()
        super().deactivate()

    @webhook(PATH, methods=("POST",), raw=True)  # type: ignore[untyped-decorator]
    def receive(self, request: Any) -> Any:
        body = request.get_data()
        msg_id = verify(self._key, request.headers, body)
        if msg_id is None:
            return _json({"error": "bad_signature"}, 401, compact=False)
        data = json.loads(body)
        if self._emulator:
            worker, chat = self.config["worker_id"], data["data"]["chat_id"]
            url = f"{self._emulator}/workers/{worker}/chats/{chat}/messages"
            payload = json.dumps(
                {"message": message_for(self.config["message"], data["data"])}, separators=(",", ":")
            ).encode()
            answer = self._session.post(url, data=payload, headers={"X-API-KEY": self.config["api_key"]})
            answer.content  # noqa: B018  (read the body, as the baseline does)
            if answer.status_code != 201:
                return _json({"error": "provider"}, 502, compact=False)
        return _json({"event_id": msg_id}, 202, compact=True)


def bot_config(data_dir: Path) -> types.SimpleNamespace:
    """Errbot's config.py: its data (Shelf storage) in a fresh directory, the plugin directory beside it, every
    core plugin (the default), logging at warning."""
    return types.SimpleNamespace(
        BACKEND="Null",
        BOT_DATA_DIR=str(data_dir),
        BOT_EXTRA_PLUGIN_DIR=str(data_dir / "plugins"),
        BOT_LOG_FILE=None,
        BOT_LOG_LEVEL=logging.WARNING,
        BOT_ADMINS=("@bench",),
        BOT_IDENTITY={"username": "@errbot"},
    )


def storage(plugin: dict[str, str]) -> dict[str, Any]:
    """What goes into the storage's `core` namespace: the Webserver plugin's config (a free port of 127.0.0.1,
    SSL off) and the bench plugin's."""
    ssl = {"enabled": False, "host": "127.0.0.1", "port": 0, "certificate": "", "key": ""}
    return {"configs": {"Webserver": {"HOST": "127.0.0.1", "PORT": 0, "SSL": ssl}, PLUGIN: plugin}}


def _install_plugin(directory: Path) -> None:
    """Errbot loads plugins from a directory holding a `.plug` file and its module: one that imports ours."""
    directory.mkdir()
    (directory / "bench.plug").write_text(
        f"[Core]\nName = {PLUGIN}\nModule = bench\n\n[Documentation]\nDescription = the benchmark's webhook\n\n"
        "[Python]\nVersion = 3\n"
    )
    (directory / "bench.py").write_text(f"from {MODULE} import BenchPlugin  # noqa: F401\n")


def _merge(config: types.SimpleNamespace, values: dict[str, Any]) -> None:
    """`errbot --storage-merge core`, values given: merge them into the storage before the bot starts."""
    with StoreMixin() as store:
        store.open_storage(get_storage_plugin(config), "core")
        for key, value in values.items():
            with store.mutable(key, {}) as current:
                current.update(value)


def _serve(config: types.SimpleNamespace) -> tuple[float, float]:
    """Run the bot until SIGTERM; returns its CPU share and its CPU seconds from READY to the signal."""
    bot = setup_bot(config.BACKEND, logging.getLogger(), config)
    since = [time.monotonic(), cpu_seconds()]
    share = [0.0, 0.0]
    connected = bot.connect_callback

    def announce() -> None:
        connected()  # activates every plugin: the Webserver's thread starts, the routes are added
        server = bot.plugin_manager.get_plugin_obj_by_name("Webserver")
        deadline = time.monotonic() + 20
        while server.server is None and time.monotonic() < deadline:  # made in its own thread
            time.sleep(0.01)
        if server.server is None:
            raise RuntimeError("Errbot's Webserver did not start")
        since[:] = [time.monotonic(), cpu_seconds()]
        emit("READY", {"port": server.server.server_address[1], "path": PATH})

    def stop(*_: Any) -> None:
        share[1] = cpu_seconds() - since[1]
        share[0] = share[1] / max(time.monotonic() - since[0], 1e-9)
        raise KeyboardInterrupt  # what the Null backend's loop stops on: it deactivates every plugin, then shuts down

    bot.connect_callback = announce
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    bot.serve_forever()
    return share[0], share[1]


def main() -> None:
    plugin = handler_settings(__doc__)
    del plugin[
        "loop"
    ]  # Errbot runs its webhooks in threads; its plugin configuration takes the template's keys only
    with tempfile.TemporaryDirectory(prefix="chatwright-bench-errbot-") as directory:
        config = bot_config(Path(directory))
        _install_plugin(Path(config.BOT_EXTRA_PLUGIN_DIR))
        _merge(config, storage(plugin))
        cpu_share, cpu = _serve(config)
    emit("RESULT", {"cpu_share": cpu_share, "cpu": cpu})


if __name__ == "__main__":
    main()
