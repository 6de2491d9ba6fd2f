"""Schedules: dynamic and static jobs fire events into the inbox, survive restarts, obey misfire policies."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from framework.events import Event
from framework.plugins import Plugin
from framework.schedules.service import ScheduleConfig, ScheduleService
from framework.store.sqlite import SQLiteStore
from tests.conftest import wait_until
from tests.framework.schedule_helpers import HOUR, Harness, now
from tests.framework.schedule_helpers import env as env

# -- dynamic jobs ------------------------------------------------------------------------------------------


async def test_after_fires_one_event_with_an_id_derived_from_job_and_planned_time(env: Harness) -> None:
    service = await env.service()
    before = now()
    await service.after(0.05, "shift.reminder", {"chat_id": "c1"}, id="remind-1")
    (event,) = await env.wait_for_events(1)
    assert event.type == "shift.reminder"
    assert event.data == {"chat_id": "c1"}
    assert event.source == "schedule:remind-1"
    assert event.id == f"schedule:remind-1:{event.occurred_at.isoformat()}"
    assert before + timedelta(seconds=0.05) <= event.occurred_at <= now()
    assert await service.list() == []  # a one-off job is gone once fired
    assert service.stats.appended == 1


async def test_at_accepts_iso_strings_and_a_past_time_fires_at_once(env: Harness) -> None:
    service = await env.service(timezone="Europe/Berlin")
    past = now() - timedelta(days=2)
    await service.at(past.isoformat(), "late.job", None, id="late")
    naive_local = (now() + timedelta(hours=5)).astimezone(ZoneInfo("Europe/Berlin")).replace(tzinfo=None)
    await service.at(naive_local.isoformat(), "later.job", {}, id="later")
    (event,) = await env.wait_for_events(1)
    assert (event.id, event.occurred_at) == (f"schedule:late:{past.isoformat()}", past)
    (later,) = await service.list()
    assert later.next_fire == naive_local.replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)


async def test_cron_jobs_are_listed_with_their_next_fire_in_their_time_zone(env: Harness) -> None:
    service = await env.service()
    await service.cron("0 8 * * 1-5", "digest.due", {"team": "a"}, id="digest", tz="Europe/Berlin")
    (job,) = await service.list()
    assert (job.id, job.event_type, job.data) == ("digest", "digest.due", {"team": "a"})
    assert job.trigger == "cron 0 8 * * 1-5 (Europe/Berlin)"
    assert job.next_fire is not None
    local = job.next_fire.astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute) == (8, 0)
    assert local.isoweekday() <= 5  # crontab 1-5 is Monday to Friday (not APScheduler's Tuesday to Saturday)


async def test_an_existing_id_is_replaced_not_twinned(env: Harness) -> None:
    service = await env.service()
    first, second = now() + timedelta(hours=1), now() + timedelta(hours=2)
    await service.at(first, "a", {"n": 1}, id="same")
    await service.at(second, "b", {"n": 2}, id="same")
    (job,) = await service.list()
    assert (job.event_type, job.data, job.next_fire) == ("b", {"n": 2}, second)


async def test_a_cancelled_job_never_fires(env: Harness) -> None:
    service = await env.service()
    await service.after(0.05, "cancelled", None, id="doomed")
    await service.after(0.15, "sentinel", None, id="sentinel")
    assert await service.cancel("doomed") is True
    assert await service.cancel("doomed") is False
    (event,) = await env.wait_for_events(1)
    assert event.type == "sentinel"
    assert await env.store.pending() == 1


async def test_bad_dynamic_requests_are_refused_with_what_is_wrong(env: Harness) -> None:
    service = await env.service([ScheduleConfig(id="static-one", event="x", interval=60)])
    with pytest.raises(ValueError, match="static schedule"):
        await service.after(1, "x", None, id="static-one")
    with pytest.raises(ValueError, match="static schedule"):
        await service.cancel("static-one")
    with pytest.raises(ValueError, match="0 or more"):
        await service.after(-1, "x", None, id="neg")
    with pytest.raises(ValueError, match="not an ISO 8601"):
        await service.at("next tuesday", "x", None, id="when")
    with pytest.raises(ValueError, match="4 fields; expected 5"):
        await service.cron("0 8 * *", "x", None, id="c")
    with pytest.raises(ValueError, match="unknown time zone"):
        await service.cron("0 8 * * *", "x", None, id="c", tz="Mars/Olympus")
    with pytest.raises(ValueError, match="JSON"):
        await service.after(1, "x", {"when": object()}, id="j")
    assert await service.list() == []


# -- restarts and misfires ---------------------------------------------------------------------------------


async def test_a_restart_loses_no_dynamic_job(env: Harness) -> None:
    first = await env.service()
    for index in range(5):
        await first.at(now() + timedelta(hours=index + 1), "reminder", {"i": index}, id=f"at-{index}")
    await first.cron("30 6 * * *", "daily", None, id="daily", tz="Europe/Berlin")
    await first.after(0.4, "soon", {"k": "v"}, id="soon")
    await first.shutdown()

    second = await env.service()
    assert sorted(job.id for job in await second.list()) == [
        "at-0",
        "at-1",
        "at-2",
        "at-3",
        "at-4",
        "daily",
        "soon",
    ]
    (event,) = await env.wait_for_events(1)
    assert (event.type, event.data, event.source) == ("soon", {"k": "v"}, "schedule:soon")


async def test_run_once_delivers_one_event_for_the_fires_missed_while_down(env: Harness) -> None:
    hourly = ScheduleConfig(id="hourly", event="tick", interval=HOUR, misfire="run-once")
    await (await env.service([hourly])).shutdown()
    down_since = now() - timedelta(hours=3, minutes=10)  # missed: -3h10, -2h10, -1h10, -0h10
    env.rewind("hourly", down_since)

    service = await env.service([hourly])
    (event,) = await env.wait_for_events(1)
    latest = down_since + timedelta(hours=3)
    assert (event.type, event.occurred_at) == ("tick", latest)
    assert event.id == f"schedule:hourly:{latest.isoformat()}"
    assert dict(service.next_fires())["hourly"] == latest + timedelta(hours=1)


async def test_skip_drops_the_fires_missed_while_down_and_keeps_the_next(env: Harness) -> None:
    hourly = ScheduleConfig(id="hourly", event="tick", interval=HOUR, misfire="skip")
    await (await env.service([hourly])).shutdown()
    down_since = now() - timedelta(hours=3, minutes=10)
    env.rewind("hourly", down_since)

    service = await env.service([hourly])
    await wait_until(lambda: service.stats.missed == 1)
    assert await env.store.pending() == 0
    assert dict(service.next_fires())["hourly"] == down_since + timedelta(hours=4)


async def test_grace_time_drops_a_fire_later_than_it(env: Harness) -> None:
    strict = ScheduleConfig(id="strict", event="tick", interval=HOUR, grace_time=60)
    lenient = ScheduleConfig(id="lenient", event="tick", interval=HOUR, grace_time=HOUR)
    await (await env.service([strict, lenient])).shutdown()
    down_since = now() - timedelta(hours=2, minutes=10)  # the latest missed fire is 10 minutes late
    env.rewind("strict", down_since)
    env.rewind("lenient", down_since)

    service = await env.service([strict, lenient])
    (event,) = await env.wait_for_events(1)
    assert event.source == "schedule:lenient"
    await wait_until(lambda: service.stats.missed == 1)


async def test_dynamic_cron_jobs_catch_up_once_after_a_restart(env: Harness) -> None:
    first = await env.service()
    await first.cron("0 * * * *", "hourly.report", {"x": 1}, id="report")
    await first.shutdown()
    hour = now().replace(minute=0, second=0, microsecond=0)
    env.rewind("report", hour - timedelta(hours=5))

    await env.service()
    (event,) = await env.wait_for_events(1)
    assert (event.type, event.data, event.occurred_at) == ("hourly.report", {"x": 1}, hour)


async def test_plugin_cron_specs_fire_their_handlers_event(env: Harness) -> None:
    plugin = Plugin("digests")

    @plugin.cron("0 * * * *", tz="Europe/Berlin", id="hourly")
    async def hourly(event: Event, ctx: Any) -> None: ...

    await (await env.service(plugin.crons)).shutdown()
    hour = now().replace(minute=0, second=0, microsecond=0)
    env.rewind("digests.hourly", hour - timedelta(hours=2))
    await env.service(plugin.crons)
    (event,) = await env.wait_for_events(1)
    assert (event.type, event.source, event.occurred_at) == (
        "cron.digests.hourly",
        "schedule:digests.hourly",
        hour,
    )


async def test_static_schedules_keep_their_next_fire_unless_changed_and_vanish_when_removed(
    env: Harness,
) -> None:
    keep = ScheduleConfig(id="keep", event="a", interval=HOUR)
    change = ScheduleConfig(id="change", event="b", interval=HOUR)
    gone = ScheduleConfig(id="gone", event="c", interval=HOUR)
    first = await env.service([keep, change, gone])
    planned = dict(first.next_fires())
    await first.shutdown()

    changed = ScheduleConfig(id="change", event="b", interval=2 * HOUR)
    second = await env.service([keep, changed])
    fires = dict(second.next_fires())
    assert set(fires) == {"keep", "change"}
    assert fires["keep"] == planned["keep"]
    changed_fire, first_fire = fires["change"], planned["change"]
    assert changed_fire is not None and first_fire is not None
    assert changed_fire > first_fire + timedelta(minutes=50)


async def test_next_fires_works_without_starting(env: Harness) -> None:
    service = await env.service(
        [
            ScheduleConfig(id="soon", event="a", interval=60),
            ScheduleConfig(id="digest", event="b", cron="0 8 * * mon-fri", timezone="Europe/Berlin"),
            ScheduleConfig(id="past", event="c", at="2020-01-01T00:00:00+00:00"),
        ],
        start=False,
    )
    fires = service.next_fires()
    assert [schedule_id for schedule_id, _ in fires] == ["soon", "digest", "past"]
    assert fires[0][1] is not None and fires[0][1] - now() <= timedelta(seconds=60)
    assert fires[2][1] is None


async def test_a_memory_store_url_gives_working_in_memory_jobs() -> None:
    store = SQLiteStore("sqlite://:memory:")
    await store.open()
    service = ScheduleService(store, "sqlite://:memory:")
    await service.start()
    try:
        await service.after(0.01, "mem", None, id="m")

        async def fired() -> bool:
            return await store.pending() == 1

        await wait_until(fired)
    finally:
        await service.shutdown()
        await store.close()


# -- several services on one store -------------------------------------------------------------------------


async def test_two_services_firing_the_same_tick_enqueue_one_event(env: Harness) -> None:
    hourly = ScheduleConfig(id="hourly", event="tick", interval=HOUR)
    await (await env.service([hourly])).shutdown()
    tick = now() - timedelta(minutes=5)
    env.rewind("hourly", tick)
    replica_a = await env.service([hourly])
    await wait_until(lambda: replica_a.stats.appended == 1)

    env.rewind("hourly", tick)  # replica B read the job before A moved it on (or A died before moving it)
    replica_b = await env.service([hourly])
    await wait_until(lambda: replica_b.stats.duplicates == 1)
    (event,) = await env.events()
    assert event.id == f"schedule:hourly:{tick.isoformat()}"
    assert replica_b.stats.appended == 0
