"""The admin area of the service: the console (server-rendered pages) and the JSON API under `/admin`."""

from framework.admin.app import admin_app, mount_admin

__all__ = ["admin_app", "mount_admin"]
