"""examples/webhook_to_message: a signed delivery becomes a message on the RoostedHR emulator."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from examples.webhook_to_message.send import DEFAULT_SECRET
from framework.testing import standard_webhooks_headers
from framework.testing.pytest_plugin import BotFactory
from tests.conftest import wait_until_sync
from tests.examples.helpers import EXAMPLES, copy_config, python, serving
from tests.ports import free_port

CONFIG = EXAMPLES / "webhook_to_message" / "bot.toml"
ROUTE = "/hooks/announcements"
KITCHEN = ["120915", "2041"]


def signed(
    text: str, *, channel: str = "kitchen", secret: str = DEFAULT_SECRET, msg_id: str | None = None
) -> dict[str, Any]:
    raw = json.dumps({"channel": channel, "text": text, "members": KITCHEN}).encode()
    return {"raw": raw, "headers": standard_webhooks_headers(secret, raw, msg_id=msg_id)}


async def test_deliveries_post_in_one_chat_per_channel(chatwright_bot: BotFactory) -> None:
    bot = await chatwright_bot.from_config(CONFIG)

    status, answer = await bot.post(ROUTE, **signed("Lunch is served", msg_id="msg_1"))
    assert (status, answer) == (202, {"event_id": "webhook:/hooks/announcements:msg_1"})
    # Delivered together: the ordering field keeps them from both creating the chat.
    for text in ("Coffee too", "And cake"):
        assert (await bot.post(ROUTE, **signed(text)))[0] == 202
    assert (await bot.post(ROUTE, **signed("Meeting moved", channel="office")))[0] == 202
    await bot.settle()

    chats = [r.body for r in bot.requests("roosted", method="POST") if r.path.endswith("/chats")]
    assert chats == [
        {"name": "Announcements: kitchen", "members": KITCHEN},
        {"name": "Announcements: office", "members": KITCHEN},
    ]
    kitchen = await bot.state("announcer", "chat:kitchen")
    posted = [r.body["message"] for r in bot.requests("roosted", path=f"/chats/{kitchen}/messages")]
    assert posted == ["Lunch is served", "Coffee too", "And cake"]


async def test_redelivery_is_enqueued_once_and_bad_signatures_are_refused(chatwright_bot: BotFactory) -> None:
    bot = await chatwright_bot.from_config(CONFIG)
    delivery = signed("Once", msg_id="msg_dup")

    assert (await bot.post(ROUTE, **delivery))[0] == 202
    status, answer = await bot.post(ROUTE, **delivery)
    assert status == 200 and answer["duplicate"] is True
    status, answer = await bot.post(ROUTE, **signed("Forged", secret="whsec_" + "A" * 32))
    assert (status, answer["error"]) == (401, "bad_signature")

    await bot.settle()
    assert [r.body for r in bot.requests("roosted", path="/messages")] == [{"message": "Once"}]


def test_readme_flow_with_the_real_service(tmp_path: Path) -> None:
    """`chatwright emulate`, `chatwright run` and `send.py`, as the README runs them (on free ports)."""
    emulator_port, service_port = free_port(), free_port()
    emulator = f"http://127.0.0.1:{emulator_port}"
    service = f"http://127.0.0.1:{service_port}"
    config = copy_config("webhook_to_message", tmp_path)
    run_log = tmp_path / "run.log"

    def posted() -> list[Any]:
        with urllib.request.urlopen(f"{emulator}/roostedhr/_emulator/requests", timeout=2) as response:
            requests = json.load(response)
        return [r["body"] for r in requests if r["method"] == "POST" and r["path"].endswith("/messages")]

    with (
        serving(["emulate", "--port", str(emulator_port)], f"{emulator}/", tmp_path / "emulate.log"),
        serving(
            ["run", str(config), "--port", str(service_port)],
            f"{service}/readyz",
            run_log,
            env={"ROOSTED_BASE_URL": f"{emulator}/roostedhr"},
        ) as run,
    ):
        send = ["-m", "examples.webhook_to_message.send", "Lunch is served", "--channel", "kitchen"]
        sent = python(*send, "--members", *KITCHEN, "--url", service)
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith('202 {"event_id":"webhook:/hooks/announcements:msg_')
        wait_until_sync(lambda: posted() == [{"message": "Lunch is served"}], timeout=10)

    assert run.returncode == 0, run_log.read_text()  # SIGTERM drains and exits cleanly
    assert "posted message" in run_log.read_text()
