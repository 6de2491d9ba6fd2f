"""`chatwright send` against a real `chatwright run` subprocess: one route per signing scheme (and the DevRev
preset, an id header), each delivery accepted, the same --id a duplicate, the errors clear."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework.cli import main
from framework.config import load_config
from framework.sending import find_route, sign_for_route
from framework.triggers.verify import build_verifier
from tests.conftest import wait_until_sync
from tests.framework.process_helpers import ready_now, stop
from tests.ports import free_port

pytestmark = pytest.mark.slow

WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

PLUGIN = """
from pathlib import Path
from framework import Context, Event, Plugin

plugin = Plugin("sendtest")
MARKS = Path(__file__).parent / "marks"


@plugin.on("*")
async def mark(event: Event, ctx: Context) -> None:
    MARKS.mkdir(exist_ok=True)
    (MARKS / event.type).write_text(event.id)
"""


def bot_toml(port: int) -> str:
    return f"""
[service]
port = {port}
drain_timeout = 2
poll_interval = 0.05

[store]
url = "sqlite:///bot.db"

[[webhooks]]
path = "/hooks/std"
event = "std.received"
verify = {{ scheme = "standard-webhooks", secrets = ["{WHSEC}"] }}

[[webhooks]]
path = "/hooks/github"
event = "github.received"
id_header = "X-GitHub-Delivery"
verify = {{ scheme = "hmac-sha256", secrets = ["gh-secret", "older"], header = "X-Hub-Signature-256", prefix = "sha256=" }}

[[webhooks]]
path = "/hooks/b64"
event = "b64.received"
id_field = "meta.delivery"
verify = {{ scheme = "hmac-sha256", secrets = ["b64-secret"], header = "X-Signature", encoding = "base64" }}

[[webhooks]]
path = "/hooks/bearer"
event = "bearer.received"
id_field = "id"
verify = {{ scheme = "bearer", tokens = ["t0ken", "other"] }}

[[webhooks]]
path = "/hooks/custom-token"
event = "custom.received"
id_field = "id"
verify = {{ scheme = "bearer", tokens = ["c0stom"], header = "X-Token" }}

[[webhooks]]
path = "/hooks/open"
event = "open.received"
id_field = "id"
insecure = true
verify = {{ scheme = "none" }}

[[webhooks]]
path = "/hooks/devrev"
preset = "devrev"
event_field = "type"
verify = {{ secrets = ["dr-secret"] }}

[plugins]
modules = ["sendtest_plugin"]
entry_points = false
"""


PATHS = {
    "/hooks/std": "std.received",
    "/hooks/github": "github.received",
    "/hooks/b64": "b64.received",
    "/hooks/bearer": "bearer.received",
    "/hooks/custom-token": "custom.received",
    "/hooks/open": "open.received",
    "/hooks/devrev": "work_created",
}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A bot directory whose service runs (one for the module: the routes do not share delivery ids)."""
    bot_dir = tmp_path_factory.mktemp("sendbot")
    port = free_port()
    (bot_dir / "sendtest_plugin.py").write_text(PLUGIN)
    (bot_dir / "bot.toml").write_text(bot_toml(port))
    env = {**os.environ, "PYTHONPATH": f"{bot_dir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "framework.cli", "run", str(bot_dir / "bot.toml")],
        cwd=bot_dir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_sync(lambda: ready_now(port) or process.poll() is not None, timeout=20)
        if process.poll() is not None:
            pytest.fail(
                f"the service did not start: {process.stderr.read().decode() if process.stderr else ''}"
            )
        yield bot_dir / "bot.toml"
    finally:
        stop(process)


def send(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["send", *args])
    out, err = capsys.readouterr()
    return code, out, err


def answer_of(out: str) -> dict[str, object]:
    """The JSON answer `chatwright send` prints after its status line."""
    _, _, body = out.partition("\n")
    decoded = json.loads(body)
    assert isinstance(decoded, dict)
    return decoded


@pytest.mark.parametrize("path", list(PATHS))
def test_each_scheme_is_accepted_then_a_duplicate(
    service: Path, path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    delivery_id = f"d-{path.rsplit('/', 1)[-1]}"
    data = '{"type": "work_created", "n": 1}'
    code, out, err = send(capsys, str(service), path, "--data", data, "--id", delivery_id)
    assert (code, err) == (0, ""), out + err
    assert out.startswith("POST http://127.0.0.1:") and f"{path} (delivery id {delivery_id}) -> 202" in out
    assert answer_of(out) == {"event_id": f"webhook:{path}:{delivery_id}"}

    code, out, err = send(capsys, str(service), path, "--data", data, "--id", delivery_id)
    assert (code, err) == (0, ""), out + err
    assert "-> 200" in out.splitlines()[0]
    assert answer_of(out) == {"event_id": f"webhook:{path}:{delivery_id}", "duplicate": True}

    marks = service.parent / "marks"
    wait_until_sync(lambda: (marks / PATHS[path]).exists(), timeout=10)
    assert (marks / PATHS[path]).read_text() == f"webhook:{path}:{delivery_id}"


def test_without_id_every_send_is_a_new_delivery(service: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = set()
    for _ in range(2):
        code, out, _ = send(capsys, str(service), "/hooks/std")
        assert code == 0 and "-> 202" in out
        ids.add(answer_of(out)["event_id"])
    assert len(ids) == 2


def test_data_from_a_file_and_extra_headers(
    service: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "member.json"
    body.write_text('{"id": "from-file", "name": "Ada"}')
    code, out, _ = send(
        capsys, str(service), "/hooks/bearer", "--data", f"@{body}", "--header", "X-Trace=abc"
    )
    assert code == 0, out
    # the id in the body is kept when no --id is given
    assert answer_of(out) == {"event_id": "webhook:/hooks/bearer:from-file"}


def test_a_wrong_token_from_a_header_is_refused_with_the_answer_printed(
    service: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = send(
        capsys, str(service), "/hooks/bearer", "--header", "Authorization=Bearer wrong", "--id", "w-1"
    )
    assert code == 1
    assert "-> 401" in out.splitlines()[0]
    assert "bad_token" in out


def test_an_unknown_path_lists_the_configured_ones(service: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = send(capsys, str(service), "/hooks/nope", "--data", "{}")
    assert code == 2 and out == ""
    assert "no webhook route at '/hooks/nope'" in err
    assert "configured paths: /hooks/std, /hooks/github, /hooks/b64, /hooks/bearer" in err


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("[1, 2]", "--data: expected a JSON object"),
        ('"text"', "--data: expected a JSON object"),
        ("{nope", "--data: not valid JSON"),
        ("@/nonexistent/body.json", "cannot read /nonexistent/body.json"),
    ],
)
def test_data_that_is_not_a_json_object_is_refused(
    service: Path, data: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = send(capsys, str(service), "/hooks/bearer", "--data", data)
    assert code == 2 and out == ""
    assert message in err


def test_a_bad_header_option_is_refused(service: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = send(capsys, str(service), "/hooks/bearer", "--header", "novalue")
    assert code == 2
    assert "--header 'novalue': expected NAME=VALUE" in err


def test_a_service_that_is_not_running_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    config = tmp_path / "bot.toml"
    config.write_text(
        f'[service]\nport = {port}\n[[webhooks]]\npath = "/hooks/in"\nevent = "x"\n'
        'verify = { scheme = "bearer", tokens = ["t"] }\n'
    )
    code, out, err = send(capsys, str(config), "/hooks/in")
    assert code == 1 and out == ""
    assert f"cannot reach the service at http://127.0.0.1:{port}/hooks/in" in err
    code, _, err = send(capsys, str(config), "/hooks/in", "--url", f"http://127.0.0.1:{port}/")
    assert code == 1 and f"http://127.0.0.1:{port}/hooks/in" in err


def test_the_signed_delivery_passes_the_routes_verifier(service: Path) -> None:
    """The signing agrees with the service's own verifiers, route by route (what the subprocess checks too)."""
    config = load_config(service)
    for path in PATHS:
        route = find_route(config, path)
        delivery = sign_for_route(route, {"type": "work_created"}, delivery_id="x-1", now=1_800_000_000)
        default = "X-DevRev-Signature" if route.preset == "devrev" else None
        verified = build_verifier(route.verify, default_header=default).verify(
            delivery.headers, delivery.body, 1_800_000_000
        )
        if path == "/hooks/std":
            assert verified.delivery_id == "x-1"


def test_a_route_without_what_signing_needs_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(
        '[[webhooks]]\npath = "/hooks/in"\nevent = "x"\nverify = { scheme = "hmac-sha256", secrets = ["s"] }\n'
    )
    code, out, err = send(capsys, str(config), "/hooks/in")
    assert code == 2 and out == ""
    assert "webhooks[0].verify.header: missing" in err  # the config refuses it before anything is signed
