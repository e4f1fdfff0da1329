"""Cron expressions: parsing into value sets and finding the next matching wall-clock time.

Pure and time-zone free: it works on naive wall-clock datetimes. ``schedule.py``
maps wall-clock times to instants in a job's time zone.

The grammar is the one ``sql/functions/schedule_error.v1.sql`` checks at INSERT;
``tests/integration/test_schedule_sql_parity.py`` keeps the two in agreement.

- 5 fields ``minute hour day-of-month month day-of-week`` or 6 with seconds first.
- A field is a comma list of items: ``*``, ``*/step``, ``v``, ``v-w``, ``v-w/step``,
  ``v/step`` (from v to the field's maximum); a step may not be larger than the
  field's range (``*/60`` in the minute field is refused). Months and weekdays accept
  three-letter English names; day-of-week 7 is Sunday, like 0.
- Day matching follows Vixie cron: when both day fields are restricted (neither
  starts with ``*``) a day matches either of them; otherwise it must match both.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pgsched.errors import ScheduleError

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")

# A schedule the static never-fires check lets through still matches within a
# 28-year calendar cycle (Feb 29 on a given weekday); this bounds the search.
SEARCH_LIMIT_YEARS = 30


@dataclass(frozen=True)
class FieldSpec:
    """One cron field's name, allowed range and value names."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    names_start: int = 0


SECOND = FieldSpec("second", 0, 59)
MINUTE = FieldSpec("minute", 0, 59)
HOUR = FieldSpec("hour", 0, 23)
DAY_OF_MONTH = FieldSpec("day-of-month", 1, 31)
MONTH = FieldSpec("month", 1, 12, MONTH_NAMES, 1)
DAY_OF_WEEK = FieldSpec("day-of-week", 0, 7, WEEKDAY_NAMES, 0)

FIVE_FIELDS = (MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK)
SIX_FIELDS = (SECOND, *FIVE_FIELDS)


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

    def matches_day(self, day: date) -> bool:
        """Whether the day fields allow this date (the month is checked separately)."""
        in_month = day.day in self.days_of_month
        in_week = (day.isoweekday() % 7) in self.weekdays
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


def parse_cron(expression: str) -> CronExpression:
    """Parse a 5- or 6-field cron expression, or raise ``ScheduleError`` saying what is wrong."""
    fields = expression.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    elif len(fields) != 6:
        raise ScheduleError(
            f"expected 5 fields (minute hour day-of-month month day-of-week) "
            f"or 6 (second first), got {len(fields)}"
        )
    values = [parse_field(text, spec) for text, spec in zip(fields, SIX_FIELDS, strict=True)]
    seconds, minutes, hours, days, months, weekdays = values
    weekdays = frozenset(0 if d == 7 else d for d in weekdays)
    dom_text, dow_text = fields[3], fields[5]
    days_or = not dom_text.startswith("*") and not dow_text.startswith("*")
    if not days_or and not _any_day_exists(days, months):
        raise ScheduleError(
            "schedule never fires: day-of-month "
            f"{_describe(days)} does not occur in month {_describe(months)}"
        )
    return CronExpression(
        seconds=tuple(sorted(seconds)),
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days_of_month=days,
        months=tuple(sorted(months)),
        weekdays=weekdays,
        days_or=days_or,
        hour_is_wildcard=fields[2].startswith("*"),
    )


def parse_field(text: str, spec: FieldSpec) -> frozenset[int]:
    """The set of values one cron field allows."""
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ScheduleError(f"{spec.name} field: empty list item in {text!r}")
        values.update(_parse_item(item, spec))
    return frozenset(values)


def _parse_item(item: str, spec: FieldSpec) -> range:
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isascii() or not step_text.isdigit() or int(step_text) == 0:
            raise ScheduleError(f"{spec.name} field: step {step_text!r} must be a positive integer")
        step = int(step_text)
        if step > spec.high - spec.low:
            # */60 in the minute field would fire at minute 0 only, not every 60 minutes.
            raise ScheduleError(
                f"{spec.name} field: step {step} is larger than the field's range "
                f"{spec.low}-{spec.high}"
            )
    if base == "*":
        return range(spec.low, spec.high + 1, step)
    first_text, dash, last_text = base.partition("-")
    first = _parse_value(first_text, spec)
    if dash:
        last = _parse_value(last_text, spec)
        if last < first:
            raise ScheduleError(f"{spec.name} field: range {base!r} runs backwards")
    else:
        last = spec.high if slash else first
    return range(first, last + 1, step)


def _parse_value(text: str, spec: FieldSpec) -> int:
    lowered = text.lower()
    if lowered in spec.names:
        return spec.names.index(lowered) + spec.names_start
    if not text.isascii() or not text.isdigit():
        allowed = "a number" + (f" or a name ({', '.join(spec.names)})" if spec.names else "")
        raise ScheduleError(f"{spec.name} field: {text!r} is not {allowed}")
    value = int(text)
    if not spec.low <= value <= spec.high:
        raise ScheduleError(f"{spec.name} field: {value} is out of range {spec.low}-{spec.high}")
    return value


def _any_day_exists(days: frozenset[int], months: frozenset[int]) -> bool:
    # February counts 29 days: a Feb 29 schedule fires in leap years.
    return any(day <= _longest_month(month) for month in months for day in days)


def _longest_month(month: int) -> int:
    return 29 if month == 2 else calendar.monthrange(2001, month)[1]


def _describe(values: frozenset[int]) -> str:
    return ",".join(str(v) for v in sorted(values))


def _first_at_least(values: tuple[int, ...], minimum: int) -> int | None:
    index = bisect_left(values, minimum)
    return values[index] if index < len(values) else None


def _next_month_start(t: datetime, months: tuple[int, ...]) -> datetime:
    month = _first_at_least(months, t.month + 1)
    if month is None:
        return datetime(t.year + 1, months[0], 1)
    return datetime(t.year, month, 1)
