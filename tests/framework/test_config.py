"""Config loading: env substitution, relative paths, and errors that name the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.config import load_config
from framework.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "bot.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=env or {})
    return list(caught.value.problems)


def test_defaults_from_an_empty_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), environ={})
    assert config.service.port == 8080
    assert config.store.url == f"sqlite:///{(tmp_path / 'chatwright.db').resolve()}"
    assert config.adapters == {} and config.webhooks == () and config.schedules == ()


def test_relative_sqlite_path_resolves_against_the_config_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = tmp_path / "deploy"
    sub.mkdir()
    monkeypatch.chdir(tmp_path)
    config = load_config(write(sub, '[store]\nurl = "sqlite:///data/bot.db"\n'), environ={})
    assert config.store.url == f"sqlite:///{(sub / 'data' / 'bot.db').resolve()}"


def test_env_substitution_and_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[service]\nhost = "${HOST:-0.0.0.0}"\nadmin_token = "${TOKEN}"\n',
    )
    config = load_config(path, environ={"TOKEN": "s3cret"})
    assert (config.service.host, config.service.admin_token) == ("0.0.0.0", "s3cret")


def test_a_missing_env_variable_names_it_and_the_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[adapters.roosted]\nprovider = "roostedhr"\nbase_url = "http://x"\napi_key = "${ROOSTED_API_KEY}"\nworker_id = 1\n',
    )
    assert problems_of(path) == [
        f"{path}: adapters.roosted.api_key: environment variable ROOSTED_API_KEY is not set"
    ]


def test_missing_adapter_key_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[adapters.roosted]\nprovider = "roostedhr"\nbase_url = "http://x"\nworker_id = "3158"\n'
    )
    assert f"{path}: adapters.roosted.api_key: missing" in problems_of(path)


def test_unknown_provider_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, '[adapters.chat]\nprovider = "slack"\nbase_url = "http://x"\n')
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: adapters.chat.provider: unknown provider 'slack'")
    assert "roostedhr" in problem and "devrev" in problem


def test_wrong_types_and_unknown_keys_are_all_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path, '[service]\nport = "eighty"\nconcurency = 3\n[store]\nurl = 5\n[bogus]\nx = 1\n')
    found = problems_of(path)
    assert any(p.startswith(f"{path}: unknown section(s) bogus") for p in found)
    assert any("service.port" in p and "integer" in p for p in found)
    assert any("service" in p and "concurency" in p for p in found)
    assert any("store.url" in p for p in found)


def test_booleans_are_not_guessed_from_strings(tmp_path: Path) -> None:
    path = write(tmp_path, '[plugins]\nentry_points = "false"\n')
    assert any("plugins.entry_points" in p and "true or false" in p for p in problems_of(path))


def test_out_of_range_values_name_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[service]\nport = 70000\n")
    assert any(p.startswith(f"{path}: service.port") for p in problems_of(path))


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[service\nport = 1\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: not valid TOML")


def test_unreadable_file(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path / "absent.toml")
    assert "absent.toml: cannot read" in problem


def test_adapter_ids_may_be_integers_or_strings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[adapters.a]\nprovider = "roostedhr"\nbase_url = "http://x"\napi_key = "k"\nworker_id = 3158\n'
        '[adapters.b]\nprovider = "roostedhr"\nbase_url = "http://x"\napi_key = "k"\nworker_id = "3158"\n',
    )
    config = load_config(path, environ={})
    assert str(config.adapters["a"].worker_id) == str(config.adapters["b"].worker_id) == "3158"  # type: ignore[attr-defined]


def test_duplicate_schedule_ids_and_webhook_paths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[webhooks]]\npath = "/h"\nevent = "a"\nverify = { scheme = "none" }\ninsecure = true\n'
        '[[webhooks]]\npath = "/h"\nevent = "b"\nverify = { scheme = "none" }\ninsecure = true\n'
        '[[schedules]]\nid = "s"\ninterval = 60\nevent = "a"\n'
        '[[schedules]]\nid = "s"\ninterval = 60\nevent = "b"\n',
    )
    found = problems_of(path)
    assert any("webhooks[1].path" in p and "already used" in p for p in found)
    assert any("schedules" in p and "'s'" in p for p in found)


def test_a_string_where_a_list_is_expected_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[plugins]\nmodules = "bots.shiftchat"\n')
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: plugins.modules")
    assert "expected a list" in problem


def test_secrets_stay_out_of_the_config_repr(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[service]
admin_token = "admin-s3cret"

[[webhooks]]
path = "/hooks/sw"
event = "x"
verify = { scheme = "standard-webhooks", secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] }

[[webhooks]]
path = "/hooks/gh"
event = "y"
verify = { scheme = "hmac-sha256", header = "X-Hub-Signature-256", secrets = ["gh-s3cret"] }

[[webhooks]]
path = "/hooks/ci"
event = "z"
verify = { scheme = "bearer", tokens = ["ci-s3cret"] }
""",
    )
    shown = repr(load_config(path, environ={}))
    assert "/hooks/ci" in shown  # the routes are there, their secrets are not
    for secret in ("admin-s3cret", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "gh-s3cret", "ci-s3cret"):
        assert secret not in shown


def test_server_timeouts_have_defaults_and_must_be_positive(tmp_path: Path) -> None:
    service = load_config(write(tmp_path, ""), environ={}).service
    assert (service.read_timeout, service.idle_timeout) == (30.0, 75.0)
    assert problems_of(write(tmp_path, "[service]\nread_timeout = 0\n")) == [
        f"{tmp_path / 'bot.toml'}: service.read_timeout: must be > 0: 0.0"
    ]
    assert problems_of(write(tmp_path, "[service]\nidle_timeout = -1\n")) == [
        f"{tmp_path / 'bot.toml'}: service.idle_timeout: must be > 0: -1.0"
    ]
