"""The day rules that depend on the month: L, L-n, nW, LW (day-of-month), xL and x#n
(day-of-week). Quartz's meanings; ``sql/functions/cron_next_match.v2.sql`` ports them.

- ``L-n``: the month's last day minus n; none in a month shorter than n + 1 days.
- ``nW``: the weekday (Monday to Friday) nearest day n, never in another month: a
  Saturday moves to the Friday before (to Monday the 3rd when n is 1), a Sunday to the
  Monday after (to the Friday before when n is the month's last day). None in a month
  without day n (``31W`` in April), as plain ``31``.
- ``LW``: the month's last weekday.
- ``xL``: the last weekday x of the month; ``x#n``: the n-th (none when the month has
  only four).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

SATURDAY, SUNDAY = 5, 6  # date.weekday()


def month_length(day: date) -> int:
    """How many days ``day``'s month has."""
    return calendar.monthrange(day.year, day.month)[1]


def nearest_weekday(year: int, month: int, day: int, last: int) -> int:
    """The weekday nearest ``day`` within its month (``last`` days long)."""
    weekday = date(year, month, day).weekday()
    if weekday == SATURDAY:
        return day + 2 if day == 1 else day - 1
    if weekday == SUNDAY:
        return day - 2 if day == last else day + 1
    return day


@dataclass(frozen=True)
class DayRules:
    """The month-dependent items of both day fields (empty ones match nothing)."""

    last_offsets: frozenset[int] = frozenset()
    nearest: frozenset[int] = frozenset()
    last_weekday: bool = False
    last_of: frozenset[int] = frozenset()  # weekdays, 0 = Sunday
    nth: frozenset[tuple[int, int]] = frozenset()  # (weekday, n)

    def month_day(self, day: date) -> bool:
        """Whether a day-of-month rule names ``day``."""
        last = month_length(day)
        if last - day.day in self.last_offsets:
            return True
        if self.last_weekday and day.day == nearest_weekday(day.year, day.month, last, last):
            return True
        return any(
            n <= last and day.day == nearest_weekday(day.year, day.month, n, last)
            for n in self.nearest
            if abs(n - day.day) <= 2
        )

    def week_day(self, day: date) -> bool:
        """Whether a day-of-week rule names ``day``."""
        weekday = day.isoweekday() % 7
        if weekday in self.last_of and day.day + 7 > month_length(day):
            return True
        return (weekday, (day.day - 1) // 7 + 1) in self.nth
