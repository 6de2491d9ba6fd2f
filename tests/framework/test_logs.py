"""`[logging] format = "json"`: a `chatwright run` writes JSON lines carrying the event id, the handler, the
attempt and the adapter where known; the formatter on its own; the config key."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from framework.config import load_config
from framework.errors import ConfigError
from framework.logs import JsonFormatter
from tests.conftest import wait_until_sync
from tests.framework.process_helpers import ready_now
from tests.ports import free_port

PLUGIN = """
from framework import Context, Event, Plugin

plugin = Plugin("logtest")


@plugin.on("hook.received")
async def note(event: Event, ctx: Context) -> None:
    ctx.log.info("noted %s", event.data["n"], extra={"custom": "yes"})
    if event.data.get("fail") and event.attempt == 1:
        raise RuntimeError("first attempt fails")
"""


def post(port: int, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks/in",
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer t0ken", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return int(response.status)


@pytest.mark.slow
def test_a_run_writes_json_lines(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "logtest_plugin.py").write_text(PLUGIN)
    (tmp_path / "bot.toml").write_text(
        f"[service]\nport = {port}\ndrain_timeout = 2\npoll_interval = 0.05\n"
        '[store]\nurl = "sqlite:///bot.db"\n'
        "[retry]\nbase_delay = 0.05\n"
        '[logging]\nformat = "json"\n'
        '[[webhooks]]\npath = "/hooks/in"\nevent = "hook.received"\nid_field = "id"\n'
        'verify = { scheme = "bearer", tokens = ["t0ken"] }\n'
        '[plugins]\nmodules = ["logtest_plugin"]\nentry_points = false\n'
    )
    log = tmp_path / "stderr.log"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "framework.cli", "run", str(tmp_path / "bot.toml")],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            wait_until_sync(lambda: ready_now(port) or process.poll() is not None, timeout=20)
            assert process.poll() is None, log.read_text()
            assert post(port, {"id": "d-1", "n": 1}) == 202
            assert post(port, {"id": "d-2", "n": 2, "fail": True}) == 202

            def noted() -> bool:
                return log.read_text().count('noted 2"') >= 2

            wait_until_sync(noted, timeout=20)
        finally:
            process.terminate()
            process.wait(timeout=15)

    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is a JSON object
    assert all({"time", "level", "logger", "message"} <= set(record) for record in records)
    assert any(record["message"].startswith("ready:") for record in records)

    first = next(r for r in records if r["message"] == "[webhook:/hooks/in:d-1] noted 1")
    assert first["logger"] == "chatwright.plugin.logtest"
    assert first["level"] == "INFO"
    assert first["event_id"] == "webhook:/hooks/in:d-1"
    assert first["event_type"] == "hook.received"
    assert first["handler"] == "logtest.note"
    assert first["attempt"] == 1
    assert first["custom"] == "yes"
    assert first["time"].endswith("+00:00")

    retried = [r for r in records if r.get("event_id") == "webhook:/hooks/in:d-2"]
    assert [r["attempt"] for r in retried if r["message"].endswith("noted 2")] == [1, 2]
    failure = next(r for r in retried if "exception" in r)
    assert "RuntimeError: first attempt fails" in failure["exception"]


def record(name: str, message: str, **extra: Any) -> logging.LogRecord:
    made = logging.LogRecord(name, logging.WARNING, __file__, 1, message, None, None)
    made.__dict__.update(extra)
    return made


def test_the_formatter_takes_the_event_id_from_the_message_and_the_adapter_from_the_logger() -> None:
    line = json.loads(
        JsonFormatter().format(record("chatwright.adapters.devrev", "[e-1] devrev: 429, retrying"))
    )
    assert line["event_id"] == "e-1"
    assert line["adapter"] == "devrev"
    assert line["level"] == "WARNING"
    assert "handler" not in line and "attempt" not in line

    plain = json.loads(JsonFormatter().format(record("chatwright.service", "ready", duration=0.5)))
    assert plain["duration"] == 0.5
    assert "event_id" not in plain and "adapter" not in plain


def test_the_format_key_is_checked(tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text("")
    assert load_config(config).logging.format == "text"
    config.write_text('[logging]\nformat = "json"\n')
    assert load_config(config).logging.format == "json"
    config.write_text('[logging]\nformat = "xml"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    assert any("logging.format: unknown format 'xml'" in problem for problem in raised.value.problems)
