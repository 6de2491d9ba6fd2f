"""Who may use the admin API: the token when one is set, else this machine only, unless admin_open says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from framework import Plugin
from framework.admin.access import AdminAccess, admin_warnings, is_loopback_host
from framework.cli import main
from framework.testing import BotHarness, RecordingProvider


def request_from(address: str, headers: dict[str, str] | None = None) -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (address, 40000) if name == "peername" else default
    )
    return make_mocked_request("GET", "/admin/api/recent", headers=headers or {}, transport=transport)


def refusal(access: AdminAccess, request: web.Request) -> tuple[int, Any] | None:
    answer = access.refusal(request)
    if answer is None:
        return None
    assert answer.content_type == "application/json" and isinstance(answer.body, bytes)
    return answer.status, json.loads(answer.body)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_without_a_token_requests_from_this_machine_are_answered(address: str) -> None:
    assert refusal(AdminAccess(None), request_from(address)) is None


@pytest.mark.parametrize(
    ("address", "headers"),
    [
        ("203.0.113.9", {}),
        ("10.0.0.7", {}),
        ("172.17.0.1", {}),  # the Docker bridge: a published port is not this machine's loopback
        ("2001:db8::1", {}),
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}),  # a proxy on this host passing the world through
        ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}),
        ("127.0.0.1", {"X-Real-IP": "203.0.113.9"}),
    ],
)
def test_without_a_token_other_machines_get_a_json_403_saying_what_to_set(
    address: str, headers: dict[str, str]
) -> None:
    refused = refusal(AdminAccess(None), request_from(address, headers))
    assert refused is not None
    status, body = refused
    assert status == 403
    assert body["error"] == "admin_token_required"
    assert "admin_token" in body["detail"] and "admin_open" in body["detail"]


def test_admin_open_lets_everyone_in_and_a_token_is_required_from_everyone() -> None:
    assert refusal(AdminAccess(None, open=True), request_from("203.0.113.9")) is None
    for access in (AdminAccess("s3cret"), AdminAccess("s3cret", open=True)):
        assert refusal(access, request_from("127.0.0.1")) == (
            401,
            {"error": "unauthorized", "detail": "send Authorization: Bearer <service.admin_token>"},
        )
        authorized = request_from("203.0.113.9", {"Authorization": "Bearer s3cret"})
        assert refusal(access, authorized) is None


def test_the_token_stays_out_of_the_repr() -> None:
    assert "s3cret" not in repr(AdminAccess("s3cret"))


async def test_the_service_refuses_proxied_admin_requests_without_a_token() -> None:
    async with BotHarness.from_plugins(Plugin("p"), providers={"chat": RecordingProvider()}) as bot:
        assert bot.client is not None
        assert (await bot.get("/admin/api/recent")).status == 200
        for path in ("/admin/api/recent", "/admin/api/dead-letters", "/admin/api/schedules"):
            answer = await bot.client.get(path, headers={"X-Forwarded-For": "203.0.113.9"})
            assert (answer.status, (await answer.json())["error"]) == (403, "admin_token_required"), path
        for path in ("/admin", "/admin/events", "/admin/dead-letters", "/admin/schedules", "/admin/handlers"):
            page = await bot.client.get(path, headers={"X-Forwarded-For": "203.0.113.9"})
            assert page.status == 403 and "admin_token" in await page.text(), path
        replay = await bot.client.post(
            "/admin/api/dead-letters/x/replay", headers={"X-Forwarded-For": "203.0.113.9"}
        )
        assert replay.status == 403
        health = await bot.client.get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"})
        assert health.status == 200


async def test_admin_open_answers_proxied_admin_requests() -> None:
    bot = BotHarness.from_plugins(
        Plugin("p"), providers={"chat": RecordingProvider()}, config={"service": {"admin_open": True}}
    )
    async with bot:
        assert bot.client is not None
        answer = await bot.client.get("/admin/api/recent", headers={"X-Forwarded-For": "203.0.113.9"})
        assert answer.status == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
    ],
)
def test_loopback_listen_addresses(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_warnings_name_the_exposure() -> None:
    assert admin_warnings("s3cret", False, "0.0.0.0") == []
    assert admin_warnings(None, False, "127.0.0.1") == []
    (listening,) = admin_warnings(None, False, "0.0.0.0")
    assert "admin_token is not set and the service listens on 0.0.0.0" in listening
    (opened,) = admin_warnings(None, True, "127.0.0.1")
    assert "admin_open = true without admin_token" in opened


def test_check_and_run_warn_about_an_admin_api_without_a_token(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "bot.toml"
    config.write_text('[service]\nhost = "0.0.0.0"\n[store]\nurl = "sqlite://:memory:"\n')
    assert main(["check", str(config)]) == 0
    assert (
        "warning: service.admin_token is not set and the service listens on 0.0.0.0"
        in capsys.readouterr().out
    )
    served: list[str] = []
    monkeypatch.setattr(
        "framework.commands.web.run_app",
        lambda app, **kwargs: served.extend(sock.getsockname()[0] for sock in kwargs["sock"]),
    )
    config.write_text('[store]\nurl = "sqlite://:memory:"\n')
    assert main(["run", str(config), "--host", "0.0.0.0", "--port", "0"]) == 0
    assert served == ["0.0.0.0"]
    assert "service.admin_token is not set and the service listens on 0.0.0.0" in caplog.text


def test_an_empty_admin_token_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bot.toml"
    config.write_text('[service]\nadmin_token = "${ADMIN_TOKEN:-}"\n')
    assert main(["check", str(config)]) == 2
    assert "service.admin_token: empty; is its ${ENV} variable unset?" in capsys.readouterr().err


async def test_the_guard_covers_unknown_admin_paths_and_methods() -> None:
    async with BotHarness.from_plugins(Plugin("p"), providers={"chat": RecordingProvider()}) as bot:
        assert bot.client is not None
        remote = {"X-Forwarded-For": "203.0.113.9"}
        for method, path in (("GET", "/admin/api/nothing-here"), ("DELETE", "/admin/api/recent")):
            answer = await bot.client.request(method, path, headers=remote)
            assert (answer.status, (await answer.json())["error"]) == (403, "admin_token_required"), path
        assert (await bot.get("/admin/api/nothing-here")).status == 404


async def test_no_request_of_the_service_passes_a_middleware() -> None:
    # a middleware on any sub-app puts every webhook through aiohttp's middleware machinery
    async with BotHarness.from_plugins(Plugin("p"), providers={"chat": RecordingProvider()}) as bot:
        assert bot.client is not None
        app = bot.client.app
        assert app is not None
        apps = [app, *(resource._app for resource in app.router.resources() if hasattr(resource, "_app"))]
        assert len(apps) == 2
        assert all(not each.middlewares for each in apps)
