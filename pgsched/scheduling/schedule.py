"""Schedules: when a job fires, in its time zone, across DST transitions.

A schedule is a cron expression, a macro (``@daily``...) or ``@every <duration>``,
read in an IANA time zone. ``Schedule.next_fire(after)`` returns the first fire
instant strictly after ``after``; successive calls give strictly increasing instants.

Daylight-saving rules, pgsched's own (docs/reference/schedules.md says how they differ
from Vixie cron, cronie and pg_cron):

- **Spring gap** (wall-clock times that do not exist): a slot that falls in the gap
  fires once, at the end of the gap, whatever the schedule (those crons skip the gap
  slots of schedules whose minute or hour field is a wildcard). Several slots in one
  gap fire together, once. A gap of any size counts, not only those under 3 hours.
- **Autumn repeat** (wall-clock times that happen twice): a schedule whose hour field
  starts with ``*`` (``*/15 * * * *``, ``@hourly``, ``0 */2 * * *``) follows elapsed
  time and fires in both passes, so a 5-minute health check does not go quiet for an
  hour. Any other schedule (``30 1 * * *``, and ``*/20 1 * * *`` too) fires each
  wall-clock slot once, at its first occurrence.
- ``@every`` runs on elapsed time, anchored to the Unix epoch (``@every 5m`` fires at
  :00, :05, ... UTC), so it neither drifts nor depends on when a worker started.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pgsched.errors import ScheduleError, TimezoneError
from pgsched.scheduling.cron import CronExpression, parse_cron
from pgsched.scheduling.stepper import CronStepper, fast_next, from_seconds, has_fixed_offset

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_PART = re.compile(r"([0-9]{1,9})([smhd])")
DURATION = re.compile(f"(?:{DURATION_PART.pattern})+")
# Both the SQL check and this module split on spaces and tabs only; anything
# outside this set would make the two disagree about what a field is.
ALLOWED_CHARACTERS = re.compile(r"[0-9A-Za-z*/,@ \t?#()-]*")
# Longer intervals are surely a typo; the database refuses them too.
MAX_EVERY_SECONDS = 3650 * 86400
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WALL_EPOCH = datetime(1970, 1, 1)
SECOND = timedelta(seconds=1)
# next_fire answers kept per schedule (a dict cleared when full): enough for the few
# instants one claim asks about, small enough for thousands of cached schedules.
RECENT_ANSWERS = 16


class SlotNote(Enum):
    """Why a fire time is not simply the wall-clock time the expression names."""

    SHIFTED_BY_DST_GAP = "shifted_by_dst_gap"
    REPEATED_HOUR = "repeated_hour"


@dataclass(frozen=True)
class FireTime:
    """One fire instant (UTC) with the wall-clock slot it stands for in the job's zone."""

    at: datetime
    wall_time: datetime
    note: SlotNote | None = None


@dataclass(frozen=True)
class Schedule:
    """A validated schedule in a time zone. Build it with ``parse_schedule``."""

    expression: str
    timezone: str
    zone: ZoneInfo
    cron: CronExpression | None
    every: timedelta | None
    # The integer fast path of a cron schedule (``stepper``), built with it.
    _stepper: CronStepper | None = field(default=None, init=False, compare=False, repr=False)
    # Recent answers of next_fire: a worker asks one schedule about the same few
    # instants for every job that shares it (every-second jobs, the same slot).
    _recent: dict[datetime, datetime] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.cron is not None:
            object.__setattr__(self, "_stepper", CronStepper(self.cron))

    @property
    def resolved(self) -> str:
        """The expression as it fires: each H replaced by what it picked for the job."""
        if self.cron is None or self.expression.strip(" \t").startswith("@"):
            return self.expression.strip(" \t")
        return self.cron.text

    def next_fire(self, after: datetime) -> datetime:
        """The first fire instant strictly after ``after`` (an aware datetime), in UTC."""
        recent = self._recent
        known = recent.get(after) if after.tzinfo is not None else None
        if known is not None:
            return known
        fast = None
        if self._stepper is not None and after.tzinfo is not None:
            fast = fast_next(self._stepper, self.zone, (after - EPOCH) // SECOND)
        at = from_seconds(fast[0]) if fast is not None else self.next_fire_time(after).at
        if len(recent) >= RECENT_ANSWERS:
            recent.clear()
        recent[after] = at
        return at

    def next_fire_time(self, after: datetime) -> FireTime:
        """Like ``next_fire``, with the wall-clock slot and any DST note."""
        if after.tzinfo is None:
            raise ValueError("after must be timezone-aware")
        if self.every is not None:
            return self._next_every(after)
        assert self.cron is not None and self._stepper is not None
        fast = fast_next(self._stepper, self.zone, (after - EPOCH) // SECOND)
        if fast is not None:
            return FireTime(at=from_seconds(fast[0]), wall_time=WALL_EPOCH + fast[1] * SECOND)
        return _next_cron(self.cron, self.zone, after)

    def upcoming(self, after: datetime, count: int) -> list[FireTime]:
        """The next ``count`` fire times after ``after``."""
        times: list[FireTime] = []
        for _ in range(count):
            fire = self.next_fire_time(after)
            times.append(fire)
            after = fire.at
        return times

    def _next_every(self, after: datetime) -> FireTime:
        assert self.every is not None
        interval = self.every // timedelta(microseconds=1)
        elapsed = (after - EPOCH) // timedelta(microseconds=1)
        at = EPOCH + timedelta(microseconds=(elapsed // interval + 1) * interval)
        return FireTime(at=at, wall_time=_wall(at, self.zone))


def parse_schedule(expression: str, timezone: str = "UTC", job_name: str | None = None) -> Schedule:
    """Validate ``expression`` in ``timezone``; raise ``ScheduleError`` or ``TimezoneError``.

    ``job_name`` is what ``H`` picks its values from; only an expression with ``H``
    needs it (``cron.HASH_NEEDS_NAME`` otherwise).
    """
    # Only an expression with H depends on the name: the others share one cache entry
    # however many jobs use them.
    hashed = "h" in expression or "H" in expression
    return _parse_cached(expression, timezone, job_name if hashed else None)


@lru_cache(maxsize=4096)
def _parse_cached(expression: str, timezone: str, job_name: str | None) -> Schedule:
    zone = load_zone(timezone)
    if not ALLOWED_CHARACTERS.fullmatch(expression):
        raise ScheduleError(
            "schedule contains characters other than digits, letters, spaces and * / , - @ ? # ( )"
        )
    text = expression.strip(" \t")
    if not text:
        raise ScheduleError("schedule is empty")
    lowered = text.lower()
    if lowered.startswith("@every"):
        every = parse_every(text[len("@every") :])
        return Schedule(expression, timezone, zone, cron=None, every=every)
    if lowered.startswith("@"):
        if lowered not in MACROS:
            raise ScheduleError(
                f"unknown macro {text!r} (expected one of {', '.join(MACROS)} or @every <duration>)"
            )
        return Schedule(expression, timezone, zone, cron=parse_cron(MACROS[lowered]), every=None)
    return Schedule(expression, timezone, zone, cron=parse_cron(text, job_name), every=None)


def duration_seconds(text: str) -> int | None:
    """The seconds in a duration such as ``90s``, ``5m`` or ``1h30m``; None if ``text``
    is not one."""
    if not DURATION.fullmatch(text):
        return None
    return sum(int(n) * DURATION_UNITS[unit] for n, unit in DURATION_PART.findall(text))


def parse_every(text: str) -> timedelta:
    """Parse an ``@every`` duration: ``30s``, ``5m``, ``2h``, ``1d``, or a sum like ``1h30m``."""
    duration = text.strip(" \t").lower()
    if not duration:
        raise ScheduleError("@every needs a duration, e.g. @every 30s, @every 5m, @every 1h30m")
    seconds = duration_seconds(duration)
    if seconds is None:
        raise ScheduleError(
            f"@every duration {duration!r} must be numbers with units s, m, h or d (e.g. 1h30m)"
        )
    if seconds <= 0:
        raise ScheduleError(f"@every duration {duration!r} must be positive")
    if seconds > MAX_EVERY_SECONDS:
        raise ScheduleError(f"@every duration {duration!r} is longer than 3650d")
    return timedelta(seconds=seconds)


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or ``TimezoneError``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a name too long
        raise TimezoneError(
            f"unknown time zone {name!r} (expected an IANA name such as Europe/Berlin)"
        ) from exc


def _next_cron(cron: CronExpression, zone: ZoneInfo, after: datetime) -> FireTime:
    local = after.astimezone(zone)
    wall = local.replace(tzinfo=None)
    if has_fixed_offset(zone):
        # No transitions to handle: the common UTC case stays on the fast path.
        match = cron.next_match(wall)
        return FireTime(at=match.replace(tzinfo=zone).astimezone(UTC), wall_time=match)
    if _kind(wall, zone) == "ambiguous":
        return _next_from_repeated_hour(cron, zone, wall, second_pass=local.fold == 1)
    return _fire_at(cron, zone, cron.next_match(wall))


def _next_from_repeated_hour(
    cron: CronExpression, zone: ZoneInfo, wall: datetime, second_pass: bool
) -> FireTime:
    """Next fire when ``after`` lies inside an autumn repeat (wall clock set back)."""
    repeat_start, repeat_end = _repeat_bounds(wall, zone)
    candidate = cron.next_match(wall)
    if candidate < repeat_end and (not second_pass or cron.hour_is_wildcard):
        return _instant(candidate, zone, fold=int(second_pass))
    if not second_pass and cron.hour_is_wildcard:
        first = cron.next_match(repeat_start - timedelta(seconds=1))
        if first < repeat_end:
            return _instant(first, zone, fold=1)
    return _fire_at(cron, zone, cron.next_match(repeat_end - timedelta(seconds=1)))


def _fire_at(cron: CronExpression, zone: ZoneInfo, wall: datetime) -> FireTime:
    """The fire time for a matching wall-clock time reached from before it."""
    kind = _kind(wall, zone)
    if kind == "missing":
        at = _transition_after(wall.replace(tzinfo=zone, fold=1).astimezone(UTC), zone)
        return FireTime(at=at, wall_time=wall, note=SlotNote.SHIFTED_BY_DST_GAP)
    return _instant(wall, zone, fold=0)


def _instant(wall: datetime, zone: ZoneInfo, fold: int) -> FireTime:
    at = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
    note = SlotNote.REPEATED_HOUR if fold == 1 else None
    return FireTime(at=at, wall_time=wall, note=note)


def _kind(wall: datetime, zone: ZoneInfo) -> str:
    """'normal', 'ambiguous' (autumn repeat) or 'missing' (spring gap), per PEP 495."""
    first = zone.utcoffset(wall.replace(fold=0))
    second = zone.utcoffset(wall.replace(fold=1))
    if first == second:
        return "normal"
    assert first is not None and second is not None
    return "ambiguous" if first > second else "missing"


def _repeat_bounds(wall: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The wall-clock interval [start, end) that happens twice around ``wall``."""
    first_pass = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    transition = _transition_after(first_pass, zone)
    before = first_pass.astimezone(zone).utcoffset()
    after = transition.astimezone(zone).utcoffset()
    assert before is not None and after is not None
    naive = transition.replace(tzinfo=None)
    return naive + after, naive + before


def _transition_after(instant: datetime, zone: ZoneInfo) -> datetime:
    """The first instant after ``instant`` whose UTC offset differs from ``instant``'s.

    Only called next to a known transition; real transitions move clocks by at
    most a few hours, so a day bounds the search.
    """
    offset = instant.astimezone(zone).utcoffset()
    low, high = instant, instant + timedelta(days=1)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def _wall(at: datetime, zone: ZoneInfo) -> datetime:
    return at.astimezone(zone).replace(tzinfo=None)
