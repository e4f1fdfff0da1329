"""A schedule in words, for people: ``*/5 * * * *`` is "every 5 minutes".

It reads the text of the fields, so it never disagrees with the parser about what
fires: a pattern it has no words for is described field by field, and anything
it cannot read comes back as the expression itself.
"""

from __future__ import annotations

from pgsched.scheduling.schedule import DURATION_PART, MACROS

WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


def describe(expression: str) -> str:
    """``expression`` in words, or the expression itself when it has none."""
    text = " ".join(expression.split())
    lowered = text.lower()
    if lowered.startswith("@every"):
        return _every(lowered.removeprefix("@every").strip()) or text
    if lowered in MACROS:
        return describe(MACROS[lowered])
    fields = text.split(" ")
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        return text
    try:
        return _cron(*fields)
    except (ValueError, IndexError):
        return text


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def _every(duration: str) -> str | None:
    parts = DURATION_PART.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        return None
    if len(parts) == 1 and parts[0][0] == "1":
        return f"every {UNIT_WORDS[parts[0][1]]}"
    return "every " + " ".join(_plural(int(n), UNIT_WORDS[u]) for n, u in parts)


ORDINALS = ("first", "second", "third", "fourth", "fifth")


def _cron(second: str, minute: str, hour: str, day: str, month: str, weekday: str) -> str:
    when = _time_of_day(second, minute, hour)
    days = _days(day.lower(), month.lower(), weekday.lower())
    fields = (second, minute, hour, day, month, weekday)
    uses_hash = any(item[:1] in "hH" for field in fields for item in field.split(","))
    hashed = " (H: picked from the job's name)" if uses_hash else ""
    if days is None:
        return (when if when.startswith(("every", "at minute")) else f"{when} every day") + hashed
    return f"{when}, {days}{hashed}"


def _time_of_day(second: str, minute: str, hour: str) -> str:
    if second == "0" and minute.isdigit() and hour.isdigit():
        return f"at {int(hour):02d}:{int(minute):02d}"
    if second.isdigit() and minute.isdigit() and hour.isdigit():
        return f"at {int(hour):02d}:{int(minute):02d}:{int(second):02d}"
    if second == "0" and minute.isdigit() and hour == "*":
        return f"at minute {int(minute)} of every hour"
    if second == "0" and hour == "*" and minute == "*":
        return "every minute"
    if second == "0" and hour == "*" and minute.startswith("*/"):
        return f"every {_plural(int(minute[2:]), 'minute')}"
    if second == "*" and minute == "*" and hour == "*":
        return "every second"
    if second.startswith("*/") and minute == "*" and hour == "*":
        return f"every {_plural(int(second[2:]), 'second')}"
    if second == "0" and minute.isdigit() and hour.startswith("*/"):
        return f"at minute {int(minute)} every {_plural(int(hour[2:]), 'hour')}"
    if second == "0" and minute.isdigit() and _is_list_of_numbers(hour):
        times = ", ".join(f"{int(h):02d}:{int(minute):02d}" for h in hour.split(","))
        return f"at {times}"
    if second == "0" and minute.isdigit() and _is_range(hour):
        low, high = hour.split("-")
        return f"at minute {int(minute)} of every hour from {int(low):02d}:00 to {int(high):02d}:59"
    parts = [f"second {second}"] if second != "0" else []
    parts += [f"minute {minute}", f"hour {hour}"]
    return "at " + ", ".join(parts)


def _days(day: str, month: str, weekday: str) -> str | None:
    """The days part, or None for every day. Both day fields set: either matches."""
    days = []
    if weekday not in ("*", "?"):
        days.append(_weekdays(weekday))
    if day not in ("*", "?"):
        days.append(_month_day(day))
    parts = [" or ".join(days)] if days else []
    if month != "*":
        parts.append(f"in {_months(month)}")
    return ", ".join(parts) or None


def _month_day(field: str) -> str:
    """One day-of-month field: L, L-n, LW and nW in words, anything else by number."""
    if field == "l":
        return "on the last day of the month"
    if field == "lw":
        return "on the last weekday of the month"
    if field.startswith("l-") and field[2:].isdigit():
        return f"{_plural(int(field[2:]), 'day')} before the last day of the month"
    if field.endswith("w") and field[:-1].isdigit():
        return f"on the weekday nearest day {int(field[:-1])} of the month"
    return f"on day {field} of the month"


def _weekdays(field: str) -> str:
    weekday, sharp, week = field.partition("#")
    if sharp and week in ("1", "2", "3", "4", "5"):
        return f"on the {ORDINALS[int(week) - 1]} {_weekday(weekday)} of the month"
    if field.endswith("l") and len(field) > 1:
        return f"on the last {_weekday(field[:-1])} of the month"
    if _is_range(field):
        low, high = (_weekday(value) for value in field.split("-"))
        return f"{low} through {high}"
    if _is_list(field):
        return "on " + ", ".join(_weekday(value) for value in field.split(","))
    return f"on weekday {field}"


def _weekday(value: str) -> str:
    names = [name[:3].lower() for name in WEEKDAYS]
    if value in names:
        return WEEKDAYS[names.index(value)]
    return WEEKDAYS[int(value) % 7]


def _months(field: str) -> str:
    names = [name[:3].lower() for name in MONTHS]

    def month(value: str) -> str:
        return MONTHS[names.index(value)] if value in names else MONTHS[int(value) - 1]

    if _is_range(field):
        low, high = field.split("-")
        return f"{month(low)} through {month(high)}"
    if _is_list(field):
        return ", ".join(month(value) for value in field.split(","))
    return f"month {field}"


def _is_list(field: str) -> bool:
    return all(part.isalnum() for part in field.split(","))


def _is_list_of_numbers(field: str) -> bool:
    return all(part.isdigit() for part in field.split(","))


def _is_range(field: str) -> bool:
    parts = field.split("-")
    return len(parts) == 2 and all(part.isalnum() for part in parts)
