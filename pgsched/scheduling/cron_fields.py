"""One cron field: its items, what each allows, and what ``H`` picks in it.

``sql/functions/cron_field.v1.sql`` is a port of this module, item for item and
message for message; ``tests/integration/test_schedule_sql_parity.py`` holds the two
to the same verdicts, values and resolved text.

Items (a field is a comma list of them; letters in any case):

- every field: ``*``, ``*/s``, ``v``, ``v-w``, ``v/s``, ``v-w/s``. A range whose end
  is below its start wraps around the field's end (``22-2`` hours: 22, 23, 0, 1, 2;
  ``FRI-MON``: Friday to Monday). ``H``, ``H/s``, ``H(a-b)``, ``H(a-b)/s``: a value
  picked from the job's name (``field_hash``), written back as a plain item.
- day-of-month: ``L`` (the last day), ``L-n`` (n days before it, n 0-30), ``nW`` (the
  weekday nearest day n, within the month), ``LW`` (the last weekday).
- day-of-week: ``xL`` (the last weekday x of the month: ``5L``, ``FRIL``), ``x#n`` (the
  n-th weekday x of the month, n 1-5: ``MON#2``).
- ``?`` is a whole day field meaning any day, as ``*``.
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass, field

from pgsched.errors import ScheduleError

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# What a field needs when it has no day-of-month constraint: any month will do.
NO_DAY_NEEDED = 99


# eq=False: the six specs are singletons, compared by identity on every item parsed.
@dataclass(frozen=True, eq=False)
class FieldSpec:
    """One cron field's name, allowed range, value names and the range a bare H spans."""

    name: str
    position: int  # 0 = second ... 5 = day-of-week: which bytes of the name's md5 H reads
    low: int
    high: int
    names: tuple[str, ...] = ()
    names_start: int = 0
    hash_low: int = 0
    hash_high: int = 0


SECOND = FieldSpec("second", 0, 0, 59, hash_high=59)
MINUTE = FieldSpec("minute", 1, 0, 59, hash_high=59)
HOUR = FieldSpec("hour", 2, 0, 23, hash_high=23)
# A bare H in day-of-month stays within 1-28 so that it fires every month.
DAY_OF_MONTH = FieldSpec("day-of-month", 3, 1, 31, hash_low=1, hash_high=28)
MONTH = FieldSpec("month", 4, 1, 12, MONTH_NAMES, 1, hash_low=1, hash_high=12)
DAY_OF_WEEK = FieldSpec("day-of-week", 5, 0, 7, WEEKDAY_NAMES, 0, hash_high=6)

FIVE_FIELDS = (MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK)
SIX_FIELDS = (SECOND, *FIVE_FIELDS)
# Each month's longest length; February counts 29 days (Feb 29 fires in leap years).
LONGEST_MONTH = tuple(29 if m == 2 else calendar.monthrange(2001, m)[1] for m in range(1, 13))


@dataclass
class Field:
    """What one field allows once parsed.

    ``values`` are plain values; the day fields' calendar rules are kept apart
    (``last_offsets``: L-n; ``nearest``: nW; ``last_weekday``: LW; ``last_of``: xL;
    ``nth``: x#n as (x, n)). ``text`` is the field with each H replaced by what it
    picked. ``needs_days`` (day-of-month) is the month length that the worst choice
    of H needs; ``offers_days`` (month) the longest month the worst choice of H
    offers: the never-fires check compares the two, whatever the job's name.
    """

    values: set[int] = field(default_factory=set)
    last_offsets: set[int] = field(default_factory=set)
    nearest: set[int] = field(default_factory=set)
    last_weekday: bool = False
    last_of: set[int] = field(default_factory=set)
    nth: set[tuple[int, int]] = field(default_factory=set)
    text: str = ""
    has_hash: bool = False
    special: bool = False
    needs_days: int = NO_DAY_NEEDED
    offers_days: int = 0


def field_hash(job_name: str, spec: FieldSpec) -> int:
    """The number H reads in ``spec``'s field for ``job_name``: 16 bits of its md5.

    Field k (second 0 ... day-of-week 5) reads hex digits 4k..4k+3 of the md5 of the
    name's UTF-8 bytes, so the fields of one job pick independently. SQL computes the
    same from ``md5(convert_to(name, 'UTF8'))``.
    """
    digest = hashlib.md5(job_name.encode("utf-8"), usedforsecurity=False).hexdigest()
    return int(digest[4 * spec.position : 4 * spec.position + 4], 16)


def parse_field(text: str, spec: FieldSpec, hash_value: int = 0) -> Field:
    """Parse one field; ``hash_value`` is what H reads in it (``field_hash``)."""
    parsed = Field()
    if "?" in text:
        if spec not in (DAY_OF_MONTH, DAY_OF_WEEK):
            raise ScheduleError(
                f"{spec.name} field: ? is only allowed in day-of-month and day-of-week"
            )
        if text != "?":
            raise ScheduleError(f"{spec.name} field: ? stands alone (any day), got {text!r}")
        parsed.values.update(range(spec.low, spec.high + 1))
        parsed.needs_days = spec.low
        parsed.text = "?"
        return parsed
    texts = []
    for item in text.split(","):
        if not item:
            raise ScheduleError(f"{spec.name} field: empty list item in {text!r}")
        if item[0] in "hH":
            texts.append(_add_hash(item, spec, hash_value, parsed))
            continue
        texts.append(item)
        if item.isdigit() or item == "*" or not _add_special(item, spec, parsed):
            values = _parse_item(item, spec)
            parsed.values.update(values)
            if spec is DAY_OF_MONTH:
                parsed.needs_days = min(parsed.needs_days, *values)
            elif spec is MONTH:
                parsed.offers_days = max([parsed.offers_days, *_month_lengths(values)])
    parsed.text = ",".join(texts)
    return parsed


def _month_lengths(months: list[int]) -> list[int]:
    return [LONGEST_MONTH[m - 1] for m in months if 1 <= m <= 12]


def _add_hash(item: str, spec: FieldSpec, hash_value: int, parsed: Field) -> str:
    """Resolve an H item into ``parsed``; the plain item it stands for."""
    shape = f"{spec.name} field: {item!r} is not H, H/step, H(low-high) or H(low-high)/step"
    rest = item[1:]
    low, high = spec.hash_low, spec.hash_high
    if rest.startswith("("):
        range_text, close, rest = rest[1:].partition(")")
        if not close:
            raise ScheduleError(shape)
        first_text, dash, last_text = range_text.partition("-")
        if not dash:
            raise ScheduleError(f"{spec.name} field: H(low-high) needs a range, got {item!r}")
        low, high = _parse_value(first_text, spec), _parse_value(last_text, spec)
        if high < low:
            raise ScheduleError(
                f"{spec.name} field: H range {range_text!r} runs backwards (H ranges do not wrap)"
            )
    if rest and not rest.startswith("/"):
        raise ScheduleError(shape)
    step = high - low + 1
    if rest:
        step = _parse_step(rest[1:], spec)
        if step > high - low + 1:
            raise ScheduleError(
                f"{spec.name} field: step {step} is larger than H's range {low}-{high}"
            )
    start = low + hash_value % step
    plain = f"{start}-{high}/{step}" if rest else str(start)
    values = _parse_item(plain, spec)
    parsed.values.update(values)
    parsed.has_hash = True
    # The worst choice: the latest first day, and the months with the shortest longest.
    parsed.needs_days = min(parsed.needs_days, low + step - 1)
    worst_offer = min(
        max(_month_lengths(list(range(low + offset, high + 1, step))), default=0)
        for offset in range(step)
    )
    parsed.offers_days = max(parsed.offers_days, worst_offer)
    return plain


def _add_special(item: str, spec: FieldSpec, parsed: Field) -> bool:
    """Record an L, W or # item in ``parsed``; False for an item of another kind."""
    base, slash, _ = item.partition("/")
    upper = base.upper()
    name = spec.name
    if "#" in upper:
        if spec is not DAY_OF_WEEK:
            raise ScheduleError(f"{name} field: # is only allowed in day-of-week, got {item!r}")
        weekday_text, _, week_text = base.partition("#")
        weekday = _parse_value(weekday_text, spec)
        if not _is_number(week_text) or not 1 <= int(week_text) <= 5:
            raise ScheduleError(f"{name} field: # needs a week 1-5, got {item!r}")
        parsed.nth.add((weekday % 7, int(week_text)))
    elif spec is DAY_OF_MONTH and upper.startswith("L"):
        offset_text = upper[2:]
        if upper == "LW":
            parsed.last_weekday = True
            parsed.needs_days = min(parsed.needs_days, 1)
        elif upper == "L" or (upper[1] == "-" and _is_number(offset_text)):
            offset = int(offset_text) if offset_text else 0
            if offset > 30:
                raise ScheduleError(f"{name} field: L-n needs n from 0 to 30, got {item!r}")
            parsed.last_offsets.add(offset)
            parsed.needs_days = min(parsed.needs_days, offset + 1)
        else:
            raise ScheduleError(f"{name} field: {item!r} is not L, LW or L-n")
    elif upper.endswith("W"):
        day_text = upper[:-1]
        if spec is not DAY_OF_MONTH:
            raise ScheduleError(f"{name} field: W is only allowed in day-of-month, got {item!r}")
        if not _is_number(day_text) or not 1 <= int(day_text) <= 31:
            raise ScheduleError(f"{name} field: W needs a day 1-31, got {item!r}")
        parsed.nearest.add(int(day_text))
        parsed.needs_days = min(parsed.needs_days, int(day_text))
    elif spec is DAY_OF_WEEK and upper.endswith("L"):
        if upper == "L":
            raise ScheduleError(
                f"{name} field: L needs a weekday before it (5L or FRIL: the last Friday), "
                f"got {item!r}"
            )
        parsed.last_of.add(_parse_value(base[:-1], spec) % 7)
    elif spec not in (DAY_OF_MONTH, DAY_OF_WEEK) and (
        upper.startswith("L") or (upper.endswith("L") and _is_number(upper[:-1]))
    ):
        raise ScheduleError(
            f"{name} field: L is only allowed in day-of-month and day-of-week, got {item!r}"
        )
    else:
        return False
    if slash:
        raise ScheduleError(f"{name} field: {base!r} takes no step, got {item!r}")
    parsed.special = True
    return True


def _parse_item(item: str, spec: FieldSpec) -> list[int]:
    base, slash, step_text = item.partition("/")
    step = _parse_step(step_text, spec) if slash else 1
    if base == "*":
        return list(range(spec.low, spec.high + 1, step))
    first_text, dash, last_text = base.partition("-")
    first = _parse_value(first_text, spec)
    if not dash:
        return list(range(first, (spec.high if slash else first) + 1, step))
    last = _parse_value(last_text, spec)
    if last >= first:
        return list(range(first, last + 1, step))
    # A range that wraps: FRI-MON, 22-2. Day-of-week wraps over its 7 days (7 is 0).
    low, period = (0, 7) if spec is DAY_OF_WEEK else (spec.low, spec.high - spec.low + 1)
    first = low + (first - low) % period
    count = (last - first) % period + 1
    return [low + (first - low + k) % period for k in range(0, count, step)]


def _parse_step(text: str, spec: FieldSpec) -> int:
    if not _is_number(text) or int(text) == 0:
        raise ScheduleError(f"{spec.name} field: step {text!r} must be a positive integer")
    step = int(text)
    if step > spec.high - spec.low:
        # */60 in the minute field would fire at minute 0 only, not every 60 minutes.
        raise ScheduleError(
            f"{spec.name} field: step {step} is larger than the field's range "
            f"{spec.low}-{spec.high}"
        )
    return step


def _parse_value(text: str, spec: FieldSpec) -> int:
    lowered = text.lower()
    if lowered in spec.names:
        return spec.names.index(lowered) + spec.names_start
    if not _is_number(text):
        allowed = "a number" + (f" or a name ({', '.join(spec.names)})" if spec.names else "")
        raise ScheduleError(f"{spec.name} field: {text!r} is not {allowed}")
    value = int(text)
    if not spec.low <= value <= spec.high:
        raise ScheduleError(f"{spec.name} field: {value} is out of range {spec.low}-{spec.high}")
    return value


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()
