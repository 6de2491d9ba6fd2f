"""The admin app's typed state."""

from __future__ import annotations

from aiohttp import web

from framework.runtime import Runtime

__all__ = ["RUNTIME_KEY"]

RUNTIME_KEY = web.AppKey("admin_runtime", Runtime)
