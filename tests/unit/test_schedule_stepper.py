"""The integer fast path of cron schedules (``pgsched.scheduling.stepper``) gives the
general path's answers: the same instant, wall-clock slot and DST note, for every kind
of field, in zones with and without DST, near transitions and far from them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from pgsched.errors import ScheduleError
from pgsched.scheduling import stepper
from pgsched.scheduling.cron import parse_cron
from pgsched.scheduling.schedule import FireTime, _next_cron, parse_schedule

# DST both ways, half-hour DST (Lord Howe), negative DST (Dublin), two changes a month
# apart (Casablanca's Ramadan), a skipped day (Apia, 2011), no DST (Kolkata, Tokyo).
ZONES = [
    "UTC",
    "Etc/GMT-14",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Europe/Dublin",
    "Africa/Casablanca",
    "Pacific/Apia",
    "America/St_Johns",
    "Asia/Kolkata",
    "Asia/Tokyo",
]
FIELDS = st.tuples(
    st.sampled_from(["0", "*", "*/15", "7,37", "59"]),  # second
    st.sampled_from(["*", "0", "*/5", "30", "0,30", "45-50", "59"]),  # minute
    st.sampled_from(["*", "0", "1", "2", "*/2", "1-3", "22-2", "9-17", "23"]),  # hour
    st.sampled_from(["*", "1", "15", "L", "L-2", "15W", "LW", "1-7", "29", "31", "?"]),
    st.sampled_from(["*", "*/2", "3,4,10,11", "2", "12"]),  # month
    st.sampled_from(["*", "?", "sun", "mon-fri", "5L", "mon#2", "6,0", "H"]),
)


def expression(fields: tuple[str, ...], with_seconds: bool) -> str:
    return " ".join(fields if with_seconds else fields[1:])


def parses(text: str) -> bool:
    try:
        parse_cron(text, "some job")
    except ScheduleError:
        return False
    return True


instants = st.one_of(
    st.datetimes(datetime(1971, 1, 1), datetime(2099, 12, 31), timezones=st.just(UTC)),
    # Within hours of a DST change in one of the zones (last Sunday of March or October,
    # first of April or November, second of March...), to the microsecond.
    st.builds(
        lambda year, day, seconds: (
            datetime(year, 1, 1, tzinfo=UTC) + timedelta(days=day, seconds=seconds)
        ),
        st.integers(2008, 2040),
        st.sampled_from([66, 69, 72, 83, 86, 89, 90, 93, 96, 272, 297, 300, 303, 306, 309]),
        st.integers(-2 * 86400, 2 * 86400) | st.sampled_from([0, 3599, 3600, 7199]),
    ).map(lambda t: t + timedelta(microseconds=999_999) if t.second == 59 else t),
)


def general(schedule_text: str, zone: str, after: datetime) -> FireTime:
    schedule = parse_schedule(schedule_text, zone, "some job")
    assert schedule.cron is not None
    return _next_cron(schedule.cron, schedule.zone, after)


@settings(max_examples=400, deadline=None)
@given(
    fields=FIELDS,
    with_seconds=st.booleans(),
    zone=st.sampled_from(ZONES),
    after=instants,
)
def test_fast_path_walks_the_same_slots_as_the_general_path(
    fields: tuple[str, ...], with_seconds: bool, zone: str, after: datetime
) -> None:
    text = expression(fields, with_seconds)
    if not parses(text):
        return
    schedule = parse_schedule(text, zone, "some job")
    for _ in range(12):
        expected = general(text, zone, after)
        assert schedule.next_fire_time(after) == expected, (text, zone, after)
        assert schedule.next_fire(after) == expected.at
        after = expected.at


@settings(max_examples=200, deadline=None)
@given(zone=st.sampled_from(ZONES), after=instants, back=st.integers(1, 10**6))
def test_every_second_schedule_fires_on_each_second_the_zone_has(
    zone: str, after: datetime, back: int
) -> None:
    schedule = parse_schedule("* * * * * *", zone)
    asked = after - timedelta(microseconds=back)
    assert schedule.next_fire(asked) == general("* * * * * *", zone, asked).at


def test_offset_span_holds_one_offset_and_keeps_the_repeated_hour_out() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 2026-10-25 01:00 UTC: 03:00 CEST becomes 02:00 CET, so 02:00-03:00 happens twice.
    change = int(datetime(2026, 10, 25, 1, tzinfo=UTC).timestamp())
    before = stepper._span_around(berlin, change - 3600)
    assert (before.end, before.offset) == (change, 7200)
    assert before.wall_end == change + 3600  # wall 02:00: the repeat begins
    after = stepper._span_around(berlin, change)
    assert (after.start, after.offset) == (change, 3600)
    assert after.wall_start == change + 7200  # wall 03:00: the repeat is over


def test_a_fixed_offset_zone_is_one_span() -> None:
    span = stepper._span_around(ZoneInfo("Etc/GMT+5"), 0)
    assert span.offset == -5 * 3600
    assert span.start < -(10**12) and span.end > 10**12
