"""Pausing, resuming and firing a schedule by hand (the admin console's actions): a pause lives in the shared job
store, so it holds for every service on that store and across restarts."""

from __future__ import annotations

from datetime import timedelta

from framework.schedules.service import ScheduleConfig, ScheduleService
from framework.store.base import Store
from tests.framework.schedule_helpers import HOUR, Harness, now
from tests.framework.schedule_helpers import env as env
from tests.framework.store_fixtures import redis_url as redis_url
from tests.framework.store_fixtures import store as store
from tests.framework.store_fixtures import store_url as store_url

HOURLY = ScheduleConfig(id="hourly", event="tick", interval=HOUR, data={"k": 1})


async def test_a_paused_schedule_stays_paused_across_a_restart_and_fires_again_once_resumed(
    env: Harness,
) -> None:
    first = await env.service([HOURLY])
    assert await first.pause("hourly")
    await first.shutdown()

    again = await env.service([HOURLY])  # a restart, or another replica on the same store
    (row,) = await again.rows()
    assert (row.id, row.paused, row.next_fire, row.static) == ("hourly", True, None, True)
    assert await again.fire_due(now() + timedelta(days=2)) == 0

    assert await again.resume("hourly")
    (row,) = await again.rows()
    assert not row.paused and row.next_fire is not None
    assert await again.fire_due(row.next_fire) == 1


async def test_fire_now_appends_one_fire_and_leaves_the_plan_alone(env: Harness) -> None:
    service = await env.service([HOURLY])
    (before,) = await service.rows()
    event_id = await service.fire_now("hourly")
    (event,) = await env.events()
    assert (event.id, event.type, event.data, event.source) == (event_id, "tick", {"k": 1}, "schedule:hourly")
    assert (await service.rows())[0].next_fire == before.next_fire


async def test_unknown_schedules_are_reported(env: Harness) -> None:
    service = await env.service([HOURLY])
    assert not await service.pause("nope")
    assert not await service.resume("nope")
    assert await service.fire_now("nope") is None


async def test_a_pause_made_on_one_replica_holds_on_another(store: Store, store_url: str) -> None:
    one = ScheduleService(store, store_url, [HOURLY])
    other = ScheduleService(store, store_url, [HOURLY])
    await one.start()
    await other.start()
    try:
        assert await one.pause("hourly")
        (row,) = await other.rows()
        assert row.paused
        assert await other.fire_due(now() + timedelta(days=2)) == 0
        assert await other.resume("hourly")
        assert not (await one.rows())[0].paused
    finally:
        await one.shutdown()
        await other.shutdown()
