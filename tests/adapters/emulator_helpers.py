"""What adapter tests read from an emulator they run on a TestServer."""

from __future__ import annotations

from aiohttp.test_utils import TestServer

from framework.emulation import FAULTS_KEY, RecordedRequest

__all__ = ["sent"]


def sent(server: TestServer) -> list[RecordedRequest]:
    """What reached the emulator, then forgets it so the next assertion sees only new calls."""
    requests = list(server.app[FAULTS_KEY].requests)
    server.app[FAULTS_KEY].requests.clear()
    return requests
