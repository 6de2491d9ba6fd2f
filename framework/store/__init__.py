"""Durable storage behind chatwright: the inbox of events, dedupe keys, plugin state."""

from framework.store.base import AppendResult, DeadLetter, InboxEntry, Store
from framework.store.factory import open_store

__all__ = ["AppendResult", "DeadLetter", "InboxEntry", "Store", "open_store"]
