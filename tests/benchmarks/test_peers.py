"""The peers' plumbing, without installing anything: a peer that cannot be installed is skipped with a note,
the Standard Webhooks check the peers share with the raw baseline accepts what the load generator signs, and
the load generator goes on over new connections with a server that closes each one (werkzeug's, under Errbot)."""

from __future__ import annotations

import email
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.benchmarks import loadgen, peers
from tests.benchmarks.harness import ROOT, SECRET
from tests.benchmarks.loadgen import Delivery
from tests.benchmarks.run import main
from tests.benchmarks.standard_webhooks import key_of, verify


def _signed(tamper: bool = False) -> tuple[dict[str, str], bytes]:
    raw = Delivery("127.0.0.1:1", "/skill/bench/hooks", SECRET, "chat-1", "run").build(3, 7)
    head, body = raw.split(b"\r\n\r\n", 1)
    headers = dict(email.message_from_bytes(head.split(b"\r\n", 1)[1]).items())
    return headers, body.replace(b"warehouse 4", b"warehouse 5") if tamper else body


def test_the_shared_check_accepts_what_the_load_generator_signs_and_nothing_else() -> None:
    headers, body = _signed()
    assert verify(key_of(SECRET), headers, body) == "msg_run_3_7"
    assert verify(key_of(SECRET), *_signed(tamper=True)) is None
    assert verify(key_of(SECRET), {**headers, "webhook-timestamp": "1"}, body) is None


@pytest.mark.parametrize("name", sorted(peers.PEERS))
def test_a_peer_that_cannot_be_installed_is_skipped_with_a_note(name: str, tmp_path: Path) -> None:
    ready, skipped = peers.prepare(
        [name], root=tmp_path, interpreter=str(tmp_path / "no-such-python"), echo=False
    )
    assert ready == []
    assert len(skipped) == 1
    assert skipped[0].startswith(f"{name} side skipped: could not install {peers.PEERS[name].distribution}==")
    assert not (tmp_path / name / ".installed").exists()


@pytest.mark.parametrize("name", sorted(peers.PEERS))
def test_every_peer_pins_its_framework_and_has_its_server_module(name: str) -> None:
    spec = peers.PEERS[name]
    assert spec.name == name
    assert all("==" in requirement or "<" in requirement for requirement in spec.requirements)
    assert any(requirement.startswith(f"{spec.distribution}==") for requirement in spec.requirements)
    assert (ROOT / (spec.module.replace(".", "/") + ".py")).is_file()


def test_no_peer_is_prepared_unless_asked_for(tmp_path: Path) -> None:
    assert peers.prepare([], root=tmp_path) == ([], [])
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_peer_is_refused_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--only", "ingest", "--peers", "opsdroid,errbot,hubot"])
    assert "unknown peer(s) hubot;" in capsys.readouterr().err


class _Accepting(http.server.BaseHTTPRequestHandler):
    """202 to every POST over HTTP/1.1; with `close`, `Connection: close` on every answer, as werkzeug does."""

    protocol_version = "HTTP/1.1"
    close = False

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(202)
        self.send_header("Content-Length", "2")
        if self.close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(params=[False, True], ids=["keep-alive", "connection-close"])
def accepting(request: pytest.FixtureRequest) -> Iterator[tuple[int, bool]]:
    handler = type("Handler", (_Accepting,), {"close": request.param})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], request.param
    finally:
        server.shutdown()
        server.server_close()


def test_the_load_generator_reconnects_only_when_the_server_closes(accepting: tuple[int, bool]) -> None:
    port, closes = accepting
    result = loadgen.start(port, 4, None, "--count", "40", "--path", "/bench/hooks").result(timeout=60)
    assert result["statuses"] == {"202": 40} and result["errors"] == 0
    assert result["reconnects"] == (40 - 4 if closes else 0)
