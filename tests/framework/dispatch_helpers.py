"""A dispatcher over a store with no adapters and no scheduler, for tests of dispatching and the worker."""

from __future__ import annotations

from framework import Event, Plugin
from framework.context import Chats, SchedulesUnavailable
from framework.dispatch import Dispatcher
from framework.store.base import Store

__all__ = ["make_dispatcher"]


def make_dispatcher(store: Store, *plugins: Plugin) -> Dispatcher:
    async def emitter(event: Event, ordering_key: str | None) -> str:
        return (await store.append(event, ordering_key=ordering_key)).event_id

    return Dispatcher(
        plugins, store=store, chats=Chats({}), emitter=emitter, schedule_api=SchedulesUnavailable()
    )
