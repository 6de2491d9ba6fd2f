"""Schedule definitions: `[[schedules]]` validation messages, crontab semantics, check findings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from framework.config import load_config
from framework.errors import ConfigError
from framework.plugins import CronSpec
from framework.schedules.config import InvalidSchedule, crontab_trigger, static_schedules
from framework.schedules.service import ScheduleConfig, ScheduleService, schedule_problems
from framework.store.sqlite import SQLiteStore

MONDAY = datetime(2025, 6, 2, tzinfo=UTC)  # 2 June 2025 was a Monday


def fires(expression: str, count: int = 7, start: datetime = MONDAY) -> list[datetime]:
    trigger = crontab_trigger(expression, "UTC")
    found: list[datetime] = []
    previous = None
    now = start
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        found.append(fire)
        previous, now = fire, fire
    return found


def weekdays(expression: str, count: int = 7) -> list[str]:
    return [fire.strftime("%a") for fire in fires(expression, count)]


def error_of(**fields: Any) -> str:
    with pytest.raises(InvalidSchedule) as caught:
        ScheduleConfig(**{"id": "s", "event": "e", **fields})
    return str(caught.value)


def test_defaults() -> None:
    config = ScheduleConfig(id="digest", event="digest.due", cron="0 8 * * mon-fri")
    assert (config.timezone, config.data, config.misfire, config.grace_time) == ("UTC", {}, "run-once", None)


def test_exactly_one_of_cron_interval_and_at() -> None:
    assert error_of() == "give exactly one of cron, interval or at (found none)"
    assert error_of(cron="* * * * *", interval=5) == (
        "give exactly one of cron, interval or at (found cron and interval)"
    )


def test_validation_messages_name_the_key_and_what_is_wrong() -> None:
    assert error_of(cron="0 8 * *").startswith("cron: '0 8 * *' has 4 fields; expected 5: minute hour")
    assert error_of(cron="61 8 * * *") == (
        "cron: '61 8 * * *': minute (0-59) '61': the last value (61) is higher than the maximum value (59)"
    )
    assert "day of week field 'mon-fry'" in error_of(cron="0 8 * * mon-fry")
    assert "runs backwards" in error_of(cron="0 8 * * fri-mon")
    assert error_of(cron="0 8 * * *", timezone="Europe/Berln") == (
        "timezone: unknown time zone 'Europe/Berln'; did you mean 'Europe/Berlin'?"
    )
    assert error_of(interval=0).startswith("interval: 0 must be a number of seconds above 0")
    assert error_of(interval=5, grace_time=0).endswith("leave it out for no limit")
    assert error_of(interval=5, misfire="once").startswith("misfire: 'once' is not a policy; use 'run-once'")
    assert error_of(at="tomorrow").startswith("at: 'tomorrow' is not an ISO 8601 date-time")
    assert error_of(interval=5, data={"x": object()}).startswith("data: must be JSON-serialisable")
    assert error_of(id="", interval=5).startswith("id: '' must be a non-empty string")


def test_at_accepts_a_datetime() -> None:
    moment: Any = datetime(2030, 1, 1, 8, tzinfo=UTC)  # what TOML hands over for an unquoted date-time
    config = ScheduleConfig(id="once", event="e", at=moment)
    assert config.at == "2030-01-01T08:00:00+00:00"


def test_config_file_errors_carry_file_and_key_path(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(
        '[[schedules]]\nid = "ok"\ncron = "0 8 * * mon-fri"\nevent = "digest.due"\n\n'
        '[[schedules]]\nid = "bad"\ncron = "0 8 * * mon-fry"\nevent = "digest.due"\n\n'
        '[[schedules]]\nid = "tz"\ncron = "0 8 * * *"\ntimezone = "Mars/Base"\nevent = "x"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    lines = caught.value.problems
    assert lines[0].startswith(
        f"{path}: schedules[1].cron: day of week field 'mon-fry': 'fry' is not a weekday"
    )
    assert lines[1].startswith(f"{path}: schedules[2].timezone: unknown time zone 'Mars/Base'")


def test_a_valid_schedules_table_loads(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(
        '[[schedules]]\nid = "weekday-digest"\ncron = "0 8 * * mon-fri"\ntimezone = "Europe/Berlin"\n'
        'event = "digest.due"\ndata = { team = "ops" }\nmisfire = "skip"\ngrace_time = 600\n'
    )
    (schedule,) = load_config(path, environ={}).schedules
    assert schedule == ScheduleConfig(
        id="weekday-digest",
        cron="0 8 * * mon-fri",
        timezone="Europe/Berlin",
        event="digest.due",
        data={"team": "ops"},
        misfire="skip",
        grace_time=600.0,
    )


# -- crontab semantics (APScheduler 3 differs: it counts weekdays from Monday = 0) -------------------------


def test_weekday_numbers_follow_crontab() -> None:
    assert weekdays("0 8 * * 0", 1) == ["Sun"]
    assert weekdays("0 8 * * 7", 2) == ["Sun", "Sun"]
    assert weekdays("0 8 * * 1-5", 5) == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    assert weekdays("0 8 * * mon-fri", 5) == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    assert weekdays("0 8 * * 5-7", 3) == ["Fri", "Sat", "Sun"]
    assert weekdays("0 8 * * */2", 4) == ["Tue", "Thu", "Sat", "Sun"]
    assert weekdays("0 8 * * sun-sat", 7) == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def test_day_of_month_and_weekday_together_fire_on_either() -> None:
    # crontab: the 1st of the month, and every Monday
    found = [fire.date().isoformat() for fire in fires("0 9 1 * mon", 6)]
    assert found == ["2025-06-02", "2025-06-09", "2025-06-16", "2025-06-23", "2025-06-30", "2025-07-01"]


def test_macros_and_time_zones() -> None:
    assert fires("@daily", 2) == [datetime(2025, 6, 2, tzinfo=UTC), datetime(2025, 6, 3, tzinfo=UTC)]
    berlin = crontab_trigger("0 8 * * *", "Europe/Berlin").get_next_fire_time(None, MONDAY)
    assert berlin.astimezone(UTC) == datetime(2025, 6, 2, 6, tzinfo=UTC)  # 08:00 CEST


# -- checks beyond the validators --------------------------------------------------------------------------


def test_schedule_problems_reports_what_validators_cannot() -> None:
    where = "bot.toml: schedules[0]"
    assert schedule_problems(ScheduleConfig(id="ok", event="e", cron="0 8 * * *"), where) == []
    never = ScheduleConfig(id="never", event="e", cron="0 0 30 2 *")
    assert schedule_problems(never, where) == [
        f"{where}.cron: cron 0 0 30 2 * (UTC) never fires; check the day and month fields"
    ]
    spec = CronSpec(plugin="p", id="p.x", event_type="cron.p.x", cron="0 8 * *", misfire="run-once")
    assert schedule_problems(spec, "plugin p").pop().startswith("plugin p.cron: '0 8 * *' has 4 fields")
    odd = CronSpec(plugin="p", id="p.y", event_type="cron.p.y", cron="0 8 * * *", misfire="sometimes")
    assert (
        schedule_problems(odd, "plugin p").pop().startswith("plugin p.misfire: 'sometimes' is not a policy")
    )


def test_bad_or_duplicate_static_schedules_are_one_config_error() -> None:
    spec = CronSpec(plugin="digests", id="digests.daily", event_type="cron.digests.daily", cron="0 8 * *")
    twice = [ScheduleConfig(id="a", event="e", interval=5), ScheduleConfig(id="a", event="f", interval=6)]
    with pytest.raises(ConfigError) as caught:
        static_schedules([spec, *twice])
    assert caught.value.problems[0].startswith(
        "plugin digests: @plugin.cron 'digests.daily': cron: '0 8 * *'"
    )
    assert caught.value.problems[1] == "schedules: id 'a' is used by more than one schedule"


def test_the_service_refuses_bad_static_schedules_without_touching_the_store() -> None:
    store = SQLiteStore("sqlite://:memory:")  # never opened
    with pytest.raises(ConfigError, match=r"@plugin\.cron"):
        ScheduleService(store, "sqlite://:memory:", [CronSpec("p", "p.x", "cron.p.x", "bad")])
    with pytest.raises(ConfigError, match="unknown time zone"):
        ScheduleService(store, "sqlite://:memory:", timezone="Nowhere/Land")
    with pytest.raises(ConfigError, match="unsupported"):
        ScheduleService(store, "postgres://db/x")
