"""The next fire of a cron schedule by integer arithmetic, where that is exact.

``schedule._next_cron`` steps naive datetimes and asks the zone about DST at every
answer: exact everywhere, and the largest cost of a worker planning thousands of
slots a second. Most answers need none of it. Within an ``OffsetSpan`` a zone's wall
clock is UTC plus one constant offset and every wall-clock second in it happens
exactly once, so the next slot is the next matching wall-clock second (``CronStepper``,
over the field values) minus the offset. ``fast_next`` answers so, or None where the
general path must: near a transition, or a slot more than ``SEARCH_DAYS`` away.
``tests/unit/test_schedule_stepper.py`` holds the two paths to the same answers.

Seconds here are whole seconds since 1970-01-01 00:00, of UTC (instants) or of the
zone's wall clock (wall-clock times).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from pgsched.scheduling.cron import CronExpression

DAY = 86_400
# date(1970, 1, 1).toordinal(): day 0 of the wall clock.
EPOCH_ORDINAL = 719_163
LAST_ORDINAL = date.max.toordinal()
# A slot further than this (a yearly schedule, a monthly one with gaps) is the
# general path's.
SEARCH_DAYS = 64
# Days whose match is remembered, per schedule, before the memory starts over.
DAY_MEMORY = 64
# A zone's offset is sampled this often when looking for its next or previous change:
# two changes closer than this would go unseen (no zone has had such).
SPAN_STEP = 3600
# How far a span is looked for each way; past it, the span ends there, less a margin
# for an offset change just beyond (more than any zone's).
SPAN_SEARCH = 16 * DAY
SPAN_MARGIN = 2 * DAY
# Spans kept per zone.
SPANS_KEPT = 8
UNBOUNDED = 1 << 62
FIXED_OFFSET_ZONES = frozenset({"UTC", "GMT", "UCT", "Universal", "Zulu", "Greenwich"})


class CronStepper:
    """Finds a cron expression's next matching wall-clock second."""

    __slots__ = ("_cron", "_days", "_every_second", "_hours", "_minutes", "_months", "_seconds")

    def __init__(self, cron: CronExpression) -> None:
        self._cron = cron
        self._hours, self._minutes, self._seconds = cron.hours, cron.minutes, cron.seconds
        self._months = frozenset(cron.months)
        self._every_second = (
            len(cron.hours) == 24 and len(cron.minutes) == 60 and len(cron.seconds) == 60
        )
        self._days: dict[int, bool] = {}

    def next_after(self, wall: int, limit: int) -> int | None:
        """The first matching wall-clock second after ``wall`` and before ``limit``;
        None when there is none there, or none within ``SEARCH_DAYS``."""
        day, second = divmod(wall + 1, DAY)
        for _ in range(SEARCH_DAYS + 1):
            if day * DAY >= limit:
                return None
            if self._day_matches(day):
                found = self._in_day(second)
                if found is not None:
                    found += day * DAY
                    return found if found < limit else None
            day, second = day + 1, 0
        return None

    def _day_matches(self, day: int) -> bool:
        known = self._days.get(day)
        if known is None:
            if not 0 < EPOCH_ORDINAL + day <= LAST_ORDINAL:
                return False  # beyond the calendar: the general path says what happens
            wall_date = date.fromordinal(EPOCH_ORDINAL + day)
            known = wall_date.month in self._months and self._cron.matches_day(wall_date)
            if len(self._days) >= DAY_MEMORY:
                self._days.clear()
            self._days[day] = known
        return known

    def _in_day(self, second: int) -> int | None:
        """The first matching second of a day at or after ``second``; None if none."""
        if self._every_second:
            return second
        hour, rest = divmod(second, 3600)
        minute, second = divmod(rest, 60)
        minutes, seconds = self._minutes, self._seconds
        for h in self._hours[bisect_left(self._hours, hour) :]:
            if h != hour:
                return h * 3600 + minutes[0] * 60 + seconds[0]
            index = bisect_left(minutes, minute)
            for m in minutes[index : index + 2]:
                if m != minute:
                    return h * 3600 + m * 60 + seconds[0]
                at = bisect_left(seconds, second)
                if at < len(seconds):
                    return h * 3600 + m * 60 + seconds[at]
        return None


@dataclass(frozen=True, slots=True)
class OffsetSpan:
    """Instants ``[start, end)`` at one UTC ``offset``, and the wall-clock seconds
    ``[wall_start, wall_end)`` that each happen once, all within it."""

    start: int
    end: int
    offset: int
    wall_start: int
    wall_end: int


def fast_next(stepper: CronStepper, zone: ZoneInfo, after_second: int) -> tuple[int, int] | None:
    """The next fire after the instant ``after_second`` (and any fraction of it) as
    (instant, wall-clock time), when both lie within one offset span; else None."""
    span = _span(zone, after_second)
    wall = after_second + span.offset
    if not span.wall_start <= wall < span.wall_end:
        return None
    found = stepper.next_after(wall, span.wall_end)
    if found is None:
        return None
    return found - span.offset, found


_spans: dict[ZoneInfo, list[OffsetSpan]] = {}


def _span(zone: ZoneInfo, instant: int) -> OffsetSpan:
    kept = _spans.get(zone)
    if kept is None:
        kept = _spans[zone] = []
    for span in kept:
        if span.start <= instant < span.end:
            return span
    span = _span_around(zone, instant)
    if len(kept) >= SPANS_KEPT:
        kept.pop(0)
    kept.append(span)
    return span


def has_fixed_offset(zone: ZoneInfo) -> bool:
    """Whether ``zone`` never changes its UTC offset (UTC and the Etc/ zones)."""
    key = zone.key or ""
    return key in FIXED_OFFSET_ZONES or key.startswith("Etc/")


def _offset(zone: ZoneInfo, instant: int) -> int | None:
    try:
        offset = datetime.fromtimestamp(instant, zone).utcoffset()
    except (OverflowError, ValueError, OSError):
        return None
    return None if offset is None else int(offset.total_seconds())


def _span_around(zone: ZoneInfo, instant: int) -> OffsetSpan:
    offset = _offset(zone, instant)
    if offset is None:  # beyond the calendar: nothing is fast there
        return OffsetSpan(instant, instant + 1, 0, 0, 0)
    if has_fixed_offset(zone):
        return OffsetSpan(-UNBOUNDED, UNBOUNDED, offset, -UNBOUNDED, UNBOUNDED)
    end, next_offset = _change(zone, instant, offset, SPAN_STEP)
    last, previous_offset = _change(zone, instant, offset, -SPAN_STEP)
    # Wall-clock seconds next to a change happen twice (the clock set back) or never
    # (set forward; those lie outside the span): only those in between are kept.
    wall_start = (
        last
        + 1
        + offset
        + (SPAN_MARGIN if previous_offset is None else max(0, previous_offset - offset))
    )
    wall_end = end + offset - (SPAN_MARGIN if next_offset is None else max(0, offset - next_offset))
    return OffsetSpan(last + 1, end, offset, wall_start, wall_end)


def _change(zone: ZoneInfo, instant: int, offset: int, step: int) -> tuple[int, int | None]:
    """Looking from ``instant`` in the direction of ``step``: the first instant at
    another offset, and that offset; when none is within ``SPAN_SEARCH``, the instant
    just beyond as far as was looked, and None."""
    same = instant
    for _ in range(SPAN_SEARCH // abs(step)):
        probe = same + step
        other = _offset(zone, probe)
        if other != offset:
            while abs(probe - same) > 1:
                middle = (same + probe) // 2
                if _offset(zone, middle) == offset:
                    same = middle
                else:
                    probe = middle
            return probe, _offset(zone, probe)
        same = probe
    return same + (1 if step > 0 else -1), None


def from_seconds(instant: int) -> datetime:
    """The UTC datetime of an instant in seconds."""
    return datetime.fromtimestamp(instant, UTC)
