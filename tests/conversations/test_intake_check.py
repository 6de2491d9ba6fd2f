"""`chatwright check` says which adapters deliver what people write, and how: push, poll, or unsupported."""

from __future__ import annotations

from pathlib import Path

from framework import Context, Event, Plugin
from framework.config import config_from_dict
from framework.message_intake import intake_report
from framework.runtime import build_providers

ADAPTERS = {
    "roosted": {"provider": "roostedhr", "base_url": "http://x.invalid", "api_key": "k", "worker_id": "1"},
    "devrev": {"provider": "devrev", "token": "t"},
    "ga": {"provider": "groupalarm", "api_token": "t", "organization_id": 1},
}
ROUTE = {"path": "/hooks/devrev", "preset": "devrev", "adapter": "devrev", "verify": {"secrets": ["s"]}}


def _listening() -> Plugin:
    plugin = Plugin("talk")

    @plugin.command("hi")
    async def hi(event: Event, ctx: Context) -> None: ...

    return plugin


def test_check_lists_push_poll_and_unsupported_and_warns_of_a_bot_that_would_hear_itself(
    tmp_path: Path,
) -> None:
    raw = {"adapters": ADAPTERS, "webhooks": [ROUTE]}
    config = config_from_dict(raw, tmp_path / "bot.toml", "bot.toml", {})
    lines, warnings = intake_report(config, [_listening()], build_providers(config))
    assert [(line.adapter, line.how) for line in lines] == [
        ("roosted", "poll"),
        ("devrev", "push"),
        ("ga", "unsupported"),
    ]
    assert "documents no way to read messages" in lines[2].detail
    assert warnings == [
        "adapters.devrev: its own identity is not configured (user_id), so no message is delivered: the bot"
        " could not tell its replies from people's"
    ]


def test_without_a_message_handler_nothing_is_polled(tmp_path: Path) -> None:
    config = config_from_dict({"adapters": ADAPTERS}, tmp_path / "bot.toml", "bot.toml", {})
    lines, warnings = intake_report(config, [], build_providers(config))
    assert [line.how for line in lines] == ["poll (not used)", "poll or push (not used)", "unsupported"]
    assert warnings == []
