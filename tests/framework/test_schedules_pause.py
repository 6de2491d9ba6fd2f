"""Pausing, resuming and firing a schedule by hand (the admin console's actions): a pause lives in the shared job
store, so it holds for every service on that store and across restarts."""

from __future__ import annotations

from datetime import timedelta

from framework.schedules.service import ScheduleConfig
from tests.framework.schedule_helpers import HOUR, Harness, now
from tests.framework.schedule_helpers import env as env

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
