"""Other bot frameworks measured beside chatwright and the raw aiohttp baseline: `run --peers opsdroid,errbot`.

A peer runs under its own virtual environment, `.venv-peers/<name>` at the repository root (gitignored), made
the first time the peer is asked for: `python -m venv` and a pinned `pip install`, so it never becomes a
dependency of the project. When that fails (no network, say), the peer is skipped with a note and the run goes
on without it. Its server module runs under that environment's Python and speaks the servers' READY/RESULT
protocol; its READY line also gives the path of its webhook route.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

from tests.benchmarks import servers
from tests.benchmarks.harness import ROOT, SECRET, Child, spawn
from tests.benchmarks.plugins import MESSAGE

__all__ = ["PEERS", "PEERS_DIR", "Peer", "PeerSpec", "prepare", "start"]

PEERS_DIR = ROOT / ".venv-peers"
INSTALL_TIMEOUT = 900.0


@attrs.frozen
class PeerSpec:
    """How to install a peer and which module serves it."""

    name: str
    requirements: tuple[str, ...]
    distribution: str
    """The distribution whose version the report names."""
    module: str
    """The server module, run as `python -m module` under the peer's interpreter."""
    describe: str
    """What the peer's side does, for the report's notes."""
    call: str
    """How its side makes the end-to-end benchmark's provider call, for that report's notes."""


PEERS = {
    "opsdroid": PeerSpec(
        name="opsdroid",
        # opsdroid's loader imports pkg_resources, which setuptools no longer has (84; its warning says < 81).
        # uvloop and orjson: the skill runs on the same loop and JSON library as the other side of its ratio.
        requirements=("opsdroid==0.31.0", "setuptools>=76,<81", "uvloop==0.23.0", "orjson==3.13.0"),
        distribution="opsdroid",
        module="tests.benchmarks.opsdroid_server",
        describe=(
            "`OpsDroid(config).run()` as `opsdroid start` runs it (on the pair's loop, its aiohttp web server and"
            " CORS middleware, the websocket connector it needs to start, logging at warning) with one"
            " class-based `@match_webhook` skill on /skill/bench/hooks that runs the baseline's own Standard"
            ' Webhooks check, parses the JSON with orjson and returns 202 {"event_id"}'
        ),
        call="opsdroid's skill makes the call inline, on one shared ClientSession, like the baseline",
    ),
    "errbot": PeerSpec(
        name="errbot",
        # The Null backend (no chat service) imports errbot.backends.test, which imports pytest.
        requirements=("errbot==6.2.1", "pytest==9.2.0"),
        distribution="errbot",
        module="tests.benchmarks.errbot_server",
        describe=(
            "`errbot.bootstrap`'s `setup_bot(...).serve_forever()` as `errbot` runs it (the Null backend, every"
            " core plugin, Shelf storage, logging at warning) with its Webserver core plugin configured through"
            " its storage on 127.0.0.1: Flask on werkzeug's ThreadedWSGIServer, a thread per connection, which"
            " closes every connection after its answer (so each webhook comes on a new connection); one plugin"
            " with a `@webhook(raw=True)` on /bench/hooks that runs the baseline's own Standard Webhooks check,"
            ' parses the JSON with the stdlib and returns a Flask Response 202 {"event_id"}'
        ),
        call=(
            "errbot's webhook makes the call inline like the baseline, but synchronously, in werkzeug's thread"
            " for its connection, on one shared requests.Session (pool of 100, as the baseline's limit)"
        ),
    ),
}


@attrs.frozen
class Peer:
    """A peer whose environment is installed: its interpreter and the version it runs."""

    spec: PeerSpec
    python: Path
    version: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def title(self) -> str:
        return f"{self.spec.name} {self.version}"


def _run(argv: Sequence[str], timeout: float) -> str | None:
    """Run a setup command; None when it worked, else the reason it did not."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if done.returncode == 0:
        return None
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {done.returncode}"


def _installed(spec: PeerSpec, root: Path, interpreter: str, echo: bool) -> Path | str:
    """The peer's interpreter, installing it first unless this exact requirement set already is; or why not."""
    venv = root / spec.name
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    wanted = "\n".join(spec.requirements)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if echo:
        print(f"... installing {' '.join(spec.requirements)} into {venv} (once)", file=sys.stderr, flush=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--retries", "1"]
    failed = _run([interpreter, "-m", "venv", "--clear", str(venv)], 120) or _run(
        [*pip, "--timeout", "20", *spec.requirements], INSTALL_TIMEOUT
    )
    if failed is not None:
        return failed
    stamp.write_text(wanted)
    return python


def _env(python: Path) -> dict[str, str]:
    """What a peer's processes run with: the repository importable, and (opsdroid) its module and log
    directories, which follow the XDG base directories, inside its environment rather than in ~. (Errbot keeps
    its data in a temporary directory of its server's own.)"""
    home = str(python.parents[1] / "home")
    return {"PYTHONPATH": str(ROOT), "XDG_DATA_HOME": home, "XDG_CACHE_HOME": home}


def _version(spec: PeerSpec, python: Path) -> str | None:
    """The installed version, once the server module's imports work under the peer's interpreter."""
    code = f"import importlib.metadata as m, {spec.module}; print(m.version({spec.distribution!r}))"
    try:
        done = subprocess.run(
            [str(python), "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env={**os.environ, **_env(python)},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = done.stdout.strip()
    return version if done.returncode == 0 and version else None


def prepare(
    names: Iterable[str], *, root: Path = PEERS_DIR, interpreter: str = sys.executable, echo: bool = True
) -> tuple[list[Peer], list[str]]:
    """The named peers ready to run, installed if need be, and a note for each one skipped."""
    ready: list[Peer] = []
    skipped: list[str] = []
    for name in names:
        spec = PEERS[name]
        python = _installed(spec, root, interpreter, echo)
        if isinstance(python, str):
            skipped.append(f"{name} side skipped: could not install {' '.join(spec.requirements)}: {python}")
            continue
        version = _version(spec, python)
        if version is None:
            skipped.append(f"{name} side skipped: {spec.module} does not import under {python}")
            continue
        ready.append(Peer(spec, python, version))
    return ready, skipped


def start(
    peer: Peer, cpus: frozenset[int] | None, *, emulator: str | None = None, loop: str = "asyncio"
) -> tuple[Child, int, str]:
    """Start the peer's server and wait until it listens; returns it, its port and its webhook path. With
    `emulator`, each webhook makes the raw baseline's provider call (the same key, worker and message); `loop`
    is the event loop of a peer that runs on asyncio (opsdroid)."""
    args = ["--secret", SECRET, "--loop", loop]
    if emulator is not None:
        args += ["--emulator", emulator, "--api-key", servers.API_KEY, "--worker-id", servers.WORKER_ID]
        args += ["--message", MESSAGE]
    child = spawn(
        peer.spec.module,
        cpus=cpus,
        name=f"{peer.name} server",
        env=_env(peer.python),
        command=[str(peer.python), "-m", peer.spec.module, *args],
    )
    ready = child.ready()
    return child, int(ready["port"]), str(ready["path"])


def notes(ready: Sequence[Peer], skipped: Sequence[str]) -> list[str]:
    """What the report says about the peers: what each one's side does, and which were skipped."""
    return [
        f"{peer.title} (own virtual environment, {peer.python.parents[1].relative_to(ROOT)}): {peer.spec.describe};"
        f' its rows run right after the raw aiohttp baseline in each round, whose figure is their "baseline"'
        for peer in ready
    ] + list(skipped)
