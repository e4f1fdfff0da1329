"""Cron expressions: parsing into value sets and finding the next matching wall-clock time.

Pure and time-zone free: it works on naive wall-clock datetimes. ``schedule.py``
maps wall-clock times to instants in a job's time zone.

The grammar is the one ``sql/functions/cron_parse.v1.sql`` checks at INSERT;
``tests/integration/test_schedule_sql_parity.py`` keeps the two in agreement. Fields
and their items are in ``cron_fields``, the month-dependent day rules in ``cron_days``.

- 5 fields ``minute hour day-of-month month day-of-week`` or 6 with seconds first.
- Day matching follows Vixie cron: when both day fields are restricted (neither
  starts with ``*`` nor is ``?``) a day matches either of them; otherwise it must
  match both. ``L``, ``W`` and ``#`` items are day values like any other:
  ``0 0 L * MON`` fires on the last day of the month and on every Monday.
- ``H`` picks values from the job's name, so a job needs its name to be parsed
  (``job_name``); whether an expression is valid never depends on the name.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pgsched.errors import ScheduleError
from pgsched.scheduling.cron_days import DayRules
from pgsched.scheduling.cron_fields import SIX_FIELDS, Field, field_hash, parse_field

# A schedule the static never-fires check lets through still matches within a
# 28-year calendar cycle (Feb 29 on a given weekday); this bounds the search.
SEARCH_LIMIT_YEARS = 30
HASH_NEEDS_NAME = "H picks its value from the job's name, and no job name was given"


@dataclass(frozen=True)
class CronExpression:
    """A parsed cron expression: the sorted values each field allows."""

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: frozenset[int]
    months: tuple[int, ...]
    weekdays: frozenset[int]  # 0 = Sunday; 7 is folded into 0
    days_or: bool  # both day fields restricted: a day matches either
    hour_is_wildcard: bool  # hour field starts with '*': the job runs on elapsed time
    day_rules: DayRules | None = None  # L, W, #: None keeps plain schedules on the fast path
    text: str = ""  # the expression with each H replaced by what it picked

    def matches_day(self, day: date) -> bool:
        """Whether the day fields allow this date (the month is checked separately)."""
        in_month = day.day in self.days_of_month
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.day_rules is not None:
            in_month = in_month or self.day_rules.month_day(day)
            in_week = in_week or self.day_rules.week_day(day)
        return (in_month or in_week) if self.days_or else (in_month and in_week)

    def next_match(self, after: datetime) -> datetime:
        """The first naive wall-clock time strictly after ``after`` that matches.

        Raises ``ScheduleError`` only for an expression that never matches, which
        ``parse_cron`` already refuses.
        """
        t = after.replace(microsecond=0, tzinfo=None, fold=0) + timedelta(seconds=1)
        limit_year = t.year + SEARCH_LIMIT_YEARS
        while t.year <= limit_year:
            if t.month not in self.months:
                t = _next_month_start(t, self.months)
                continue
            if not self.matches_day(t.date()):
                t = datetime.combine(t.date() + timedelta(days=1), datetime.min.time())
                continue
            hour = _first_at_least(self.hours, t.hour)
            if hour is None:
                t = datetime.combine(t.date() + timedelta(days=1), datetime.min.time())
                continue
            if hour != t.hour:
                t = t.replace(hour=hour, minute=0, second=0)
            minute = _first_at_least(self.minutes, t.minute)
            if minute is None:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
                continue
            if minute != t.minute:
                t = t.replace(minute=minute, second=0)
            second = _first_at_least(self.seconds, t.second)
            if second is None:
                t = t.replace(second=0) + timedelta(minutes=1)
                continue
            return t.replace(second=second)
        raise ScheduleError("schedule never fires")


def parse_cron(expression: str, job_name: str | None = None) -> CronExpression:
    """Parse a 5- or 6-field cron expression, or raise ``ScheduleError`` saying what is wrong.

    ``job_name`` is what ``H`` hashes; an expression with ``H`` and no name is valid
    but cannot be parsed into times, and raises after every other check.
    """
    written = expression.split()
    fields = written
    if len(fields) == 5:
        fields = ["0", *fields]
    elif len(fields) != 6:
        raise ScheduleError(
            f"expected 5 fields (minute hour day-of-month month day-of-week) "
            f"or 6 (second first), got {len(fields)}"
        )
    parsed = [
        parse_field(text, spec, field_hash(job_name, spec) if job_name is not None else 0)
        for text, spec in zip(fields, SIX_FIELDS, strict=True)
    ]
    seconds, minutes, hours, days, months, weekdays = parsed
    dom_text, dow_text = fields[3], fields[5]
    days_or = not _unrestricted(dom_text) and not _unrestricted(dow_text)
    if not days_or and days.needs_days > months.offers_days:
        raise ScheduleError(_never_fires(dom_text, days, fields[4], months))
    if job_name is None and any(f.has_hash for f in parsed):
        raise ScheduleError(HASH_NEEDS_NAME)
    rules = None
    if days.special or weekdays.special:
        rules = DayRules(
            last_offsets=frozenset(days.last_offsets),
            nearest=frozenset(days.nearest),
            last_weekday=days.last_weekday,
            last_of=frozenset(weekdays.last_of),
            nth=frozenset(weekdays.nth),
        )
    resolved = [f.text for f in parsed][6 - len(written) :]
    return CronExpression(
        seconds=tuple(sorted(seconds.values)),
        minutes=tuple(sorted(minutes.values)),
        hours=tuple(sorted(hours.values)),
        days_of_month=frozenset(days.values),
        months=tuple(sorted(months.values)),
        weekdays=frozenset(0 if d == 7 else d for d in weekdays.values),
        days_or=days_or,
        hour_is_wildcard=fields[2].startswith("*"),
        day_rules=rules,
        text=" ".join(resolved),
    )


def _unrestricted(text: str) -> bool:
    return text.startswith("*") or text == "?"


def _never_fires(dom_text: str, days: Field, month_text: str, months: Field) -> str:
    if days.has_hash or months.has_hash:
        return (
            f"schedule never fires for some job names: H in day-of-month {dom_text} "
            f"or month {month_text} can pick a day that the month does not have"
        )
    described = dom_text if days.special else _describe(days.values)
    return (
        f"schedule never fires: day-of-month {described} does not occur in month "
        f"{_describe(months.values)}"
    )


def _describe(values: set[int]) -> str:
    return ",".join(str(v) for v in sorted(values))


def _first_at_least(values: tuple[int, ...], minimum: int) -> int | None:
    index = bisect_left(values, minimum)
    return values[index] if index < len(values) else None


def _next_month_start(t: datetime, months: tuple[int, ...]) -> datetime:
    month = _first_at_least(months, t.month + 1)
    if month is None:
        return datetime(t.year + 1, months[0], 1)
    return datetime(t.year, month, 1)
