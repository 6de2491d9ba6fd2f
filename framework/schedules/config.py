"""Schedule definitions: the `[[schedules]]` table, crontab parsing, the static schedules built from them."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import attrs
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from framework import jsoncodec
from framework.errors import ConfigError
from framework.plugins import CronSpec

__all__ = [
    "MISFIRE_POLICIES",
    "InvalidSchedule",
    "ScheduleConfig",
    "StaticSchedule",
    "crontab_trigger",
    "duplicate_ids",
    "load_timezone",
    "parse_instant",
    "schedule_problems",
    "static_schedules",
]

MISFIRE_POLICIES = ("run-once", "skip")
"""run-once: a run of missed fires is delivered once (the latest); skip: fires missed while down are lost."""

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering: 0 (and 7) is Sunday
_FIELDS = (
    ("minute", "minute (0-59)"),
    ("hour", "hour (0-23)"),
    ("day", "day of month (1-31)"),
    ("month", "month (1-12 or jan-dec)"),
    ("day_of_week", "day of week (0-7 or sun-sat)"),
)
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class InvalidSchedule(ValueError):
    """A schedule setting is wrong; `key` names the setting (`cron`, `timezone`, ...), `reason` says why."""

    def __init__(self, key: str | None, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}" if key else reason)


def load_timezone(name: str, key: str = "timezone") -> ZoneInfo:
    """The IANA time zone `name`; an unknown name raises InvalidSchedule suggesting the closest known one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        import difflib  # only a config with a mistake in it needs it

        close = difflib.get_close_matches(str(name), available_timezones(), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "use an IANA name like 'Europe/Berlin' or 'UTC'"
        raise InvalidSchedule(key, f"unknown time zone {name!r}; {hint}") from None


def parse_instant(value: datetime | str, default_tz: tzinfo = UTC, key: str = "at") -> datetime:
    """An aware UTC datetime from a datetime or an ISO 8601 string; naive values are read in `default_tz`."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise InvalidSchedule(
                key, f"{value!r} is not an ISO 8601 date-time; expected e.g. '2025-06-01T08:00:00+02:00'"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=default_tz)
    return moment.astimezone(UTC)


def _weekday(text: str, field: str) -> int:
    value = text.strip().lower()
    if value.isdigit() and int(value) <= 7:
        return int(value)
    if value in _WEEKDAYS:
        return _WEEKDAYS.index(value)
    raise InvalidSchedule(
        "cron",
        f"day of week field {field!r}: {text!r} is not a weekday; use 0-7 (0 and 7 are Sunday) or sun-sat",
    )


def _crontab_weekdays(field: str) -> str:
    """Translate a crontab day-of-week field (0 or 7 = Sunday) into names for APScheduler 3 (Monday = 0)."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        body, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise InvalidSchedule(
                    "cron", f"day of week field {field!r}: step {step_text!r} must be 1 or more"
                )
            step = int(step_text)
        if body in ("*", "?"):
            first, last = 0, 6
        elif "-" in body:
            start, _, end = body.partition("-")
            first, last = _weekday(start, field), _weekday(end, field)
            if first > last:
                raise InvalidSchedule("cron", f"day of week field {field!r}: range {body!r} runs backwards")
        else:
            first = _weekday(body, field)
            last = 6 if slash else first
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(_WEEKDAYS[day] for day in sorted(days))


def crontab_trigger(expression: str, timezone: str = "UTC") -> Any:
    """An APScheduler trigger for a 5-field crontab expression (or @daily, @hourly, ...) in `timezone`.

    Follows crontab, not APScheduler 3, where they differ: 0 and 7 are Sunday, and when both day of month and
    day of week are restricted (neither starts with `*`) the schedule fires on either (`0 9 1 * mon` = the 1st
    and every Monday).
    """
    zone = load_timezone(timezone)
    text = _MACROS.get(expression.strip().lower(), expression) if isinstance(expression, str) else ""
    fields = text.split()
    if len(fields) != 5:
        raise InvalidSchedule(
            "cron",
            f"{expression!r} has {len(fields)} fields; expected 5: minute hour day-of-month month day-of-week"
            " (e.g. '0 8 * * mon-fri')",
        )
    values = dict(zip((name for name, _ in _FIELDS), fields, strict=True))
    values["day_of_week"] = _crontab_weekdays(values["day_of_week"])
    for (name, label), original in zip(_FIELDS, fields, strict=True):
        try:
            CronTrigger(**{name: values[name]}, timezone=zone)
        except ValueError as error:
            reason = (
                str(error).partition("': ")[2] if str(error).startswith("Error validating") else str(error)
            )
            raise InvalidSchedule("cron", f"{expression!r}: {label} {original!r}: {reason}") from None
    if not fields[2].startswith(("*", "?")) and not fields[4].startswith(("*", "?")):
        by_day = CronTrigger(**{**values, "day_of_week": "*"}, timezone=zone)
        by_weekday = CronTrigger(**{**values, "day": "*"}, timezone=zone)
        return OrTrigger([by_day, by_weekday])
    return CronTrigger(**values, timezone=zone)


def _require_name(key: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip() or any(ch.isspace() for ch in value):
        raise InvalidSchedule(key, f"{value!r} must be a non-empty string without spaces")


def _require_seconds(key: str, value: Any) -> None:
    if value is not None and not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        extra = "; leave it out for no limit" if key == "grace_time" else ""
        raise InvalidSchedule(key, f"{value!r} must be a number of seconds above 0{extra}")


def _require_policy(value: Any) -> None:
    if value not in MISFIRE_POLICIES:
        raise InvalidSchedule(
            "misfire",
            f"{value!r} is not a policy; use 'run-once' (deliver the latest missed fire once) or 'skip'"
            " (drop fires missed while the service was down)",
        )


def _check_name(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    _require_name(attribute.name, value)


def _check_seconds(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    _require_seconds(attribute.name, value)


def _check_cron(instance: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        crontab_trigger(value, "UTC")


def _check_timezone(instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    load_timezone(value)


def _check_at(instance: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        parse_instant(value)


def _check_data(instance: Any, attribute: attrs.Attribute[Any], value: dict[str, Any]) -> None:
    if not isinstance(value, dict):
        raise InvalidSchedule("data", f"must be a table (JSON object), not {type(value).__name__}")
    try:
        jsoncodec.dumps(value)
    except (TypeError, ValueError) as error:
        raise InvalidSchedule("data", f"must be JSON-serialisable: {error}") from None


def _check_misfire(instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    _require_policy(value)


def _iso_text(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


@attrs.frozen(kw_only=True)
class ScheduleConfig:
    """`[[schedules]]`: fire event `event` with `data` on exactly one of `cron`, `interval` or `at`.

    `timezone` is the IANA zone of `cron` and of an `at` without an offset. `misfire` says what happens to
    fires missed while no service ran (`run-once` or `skip`); `grace_time` is how late (seconds) a fire may
    still be delivered, no limit when left out.
    """

    id: str = attrs.field(validator=_check_name)
    event: str = attrs.field(validator=_check_name)
    cron: str | None = attrs.field(default=None, validator=_check_cron)
    timezone: str = attrs.field(default="UTC", validator=_check_timezone)
    interval: float | None = attrs.field(default=None, validator=_check_seconds)
    at: str | None = attrs.field(default=None, converter=_iso_text, validator=_check_at)
    data: dict[str, Any] = attrs.field(factory=dict, validator=_check_data)
    misfire: str = attrs.field(default="run-once", validator=_check_misfire)
    grace_time: float | None = attrs.field(default=None, validator=_check_seconds)

    def __attrs_post_init__(self) -> None:
        given = [key for key in ("cron", "interval", "at") if getattr(self, key) is not None]
        if len(given) != 1:
            found = " and ".join(given) if given else "none"
            raise InvalidSchedule(None, f"give exactly one of cron, interval or at (found {found})")


@attrs.frozen
class StaticSchedule:
    """A schedule from config or `@plugin.cron`, ready to be put in the job store."""

    id: str
    event_type: str
    data: dict[str, Any]
    trigger: Any
    description: str
    misfire: str
    grace_time: float | None

    @property
    def fingerprint(self) -> str:
        """Equal for equal definitions, so a restart can tell an unchanged schedule from a changed one."""
        parts = [self.description, self.event_type, self.data, self.misfire, self.grace_time]
        return json.dumps(parts, sort_keys=True, default=str)

    def next_fire(self, now: datetime) -> datetime | None:
        when: datetime | None = self.trigger.get_next_fire_time(None, now)
        return None if when is None or (isinstance(self.trigger, DateTrigger) and when < now) else when


def _from_config(config: ScheduleConfig) -> StaticSchedule:
    zone = load_timezone(config.timezone)
    if config.cron is not None:
        trigger = crontab_trigger(config.cron, config.timezone)
        description = f"cron {config.cron} ({config.timezone})"
    elif config.interval is not None:
        trigger = IntervalTrigger(seconds=config.interval, timezone=UTC)
        description = f"every {config.interval:g}s"
    else:
        moment = parse_instant(config.at or "", zone)
        trigger = DateTrigger(run_date=moment, timezone=UTC)
        description = f"at {moment.isoformat()}"
    return StaticSchedule(
        id=config.id,
        event_type=config.event,
        data=dict(config.data),
        trigger=trigger,
        description=description,
        misfire=config.misfire,
        grace_time=config.grace_time,
    )


def _from_cron_spec(spec: CronSpec) -> StaticSchedule:
    _require_name("id", spec.id)
    _require_policy(spec.misfire)
    _require_seconds("grace_time", spec.grace_time)
    return StaticSchedule(
        id=spec.id,
        event_type=spec.event_type,
        data={},
        trigger=crontab_trigger(spec.cron, spec.timezone),
        description=f"cron {spec.cron} ({spec.timezone})",
        misfire=spec.misfire,
        grace_time=spec.grace_time,
    )


def _where(item: ScheduleConfig | CronSpec) -> str:
    if isinstance(item, CronSpec):
        return f"plugin {item.plugin}: @plugin.cron {item.id!r}"
    return f"schedules: {item.id!r}"


def static_schedules(items: Any) -> list[StaticSchedule]:
    """Build the static schedules; raises ConfigError listing every bad or duplicate one."""
    built: list[StaticSchedule] = []
    problems: list[str] = []
    for item in items:
        try:
            built.append(_from_cron_spec(item) if isinstance(item, CronSpec) else _from_config(item))
        except InvalidSchedule as error:
            problems.append(f"{_where(item)}: {error}")
    problems += duplicate_ids([schedule.id for schedule in built], "schedules")
    if problems:
        raise ConfigError(problems)
    return built


def duplicate_ids(ids: list[str], where: str) -> list[str]:
    """One problem for each schedule id used more than once (config schedules and `@plugin.cron` share ids)."""
    return [
        f"{where}: id {id!r} is used by more than one schedule"
        for id in sorted({i for i in ids if ids.count(i) > 1})
    ]


def schedule_problems(config: ScheduleConfig | CronSpec, where: str) -> list[str]:
    """What `chatwright check` should report about one schedule beyond its validators: a cron expression that
    can never fire (`0 0 30 2 *`), and for `@plugin.cron` (not validated at registration) any bad expression,
    time zone, grace time or misfire policy. Each line reads `WHERE.key: what is wrong`."""
    try:
        schedule = _from_cron_spec(config) if isinstance(config, CronSpec) else _from_config(config)
    except InvalidSchedule as error:
        return [f"{where}.{error.key}: {error.reason}" if error.key else f"{where}: {error.reason}"]
    if isinstance(schedule.trigger, DateTrigger) or schedule.next_fire(datetime.now(UTC)) is not None:
        return []
    return [f"{where}.cron: {schedule.description} never fires; check the day and month fields"]
