"""The peers' plumbing, without installing anything: a peer that cannot be installed is skipped with a note,
and the Standard Webhooks check the peers share with the raw baseline accepts what the load generator signs."""

from __future__ import annotations

import email
from pathlib import Path

import pytest

from tests.benchmarks import peers
from tests.benchmarks.harness import SECRET
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


def test_a_peer_that_cannot_be_installed_is_skipped_with_a_note(tmp_path: Path) -> None:
    ready, skipped = peers.prepare(
        ["opsdroid"], root=tmp_path, interpreter=str(tmp_path / "no-such-python"), echo=False
    )
    assert ready == []
    assert len(skipped) == 1 and skipped[0].startswith("opsdroid side skipped: could not install opsdroid==")
    assert not (tmp_path / "opsdroid" / ".installed").exists()


def test_no_peer_is_prepared_unless_asked_for(tmp_path: Path) -> None:
    assert peers.prepare([], root=tmp_path) == ([], [])
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_peer_is_refused_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--only", "ingest", "--peers", "opsdroid,errbot"])
    assert "unknown peer(s) errbot" in capsys.readouterr().err
