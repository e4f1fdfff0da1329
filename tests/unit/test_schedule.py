"""Schedules in a time zone: macros, @every, and what happens around DST transitions.

Pure tests of ``pgsched.scheduling.schedule`` (no database). Expected instants are written in UTC;
comments give the local wall-clock reading.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgsched.errors import ScheduleError, TimezoneError
from pgsched.scheduling.cron import CronExpression
from pgsched.scheduling.schedule import FireTime, Schedule, SlotNote, parse_schedule

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
ZONES = ["UTC", BERLIN, NEW_YORK, "Australia/Lord_Howe", "Asia/Kolkata"]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def instants(expression: str, zone: str, after: str, count: int) -> list[datetime]:
    return [fire.at for fire in parse_schedule(expression, zone).upcoming(utc(after), count)]


def notes(fires: list[FireTime]) -> list[SlotNote | None]:
    return [fire.note for fire in fires]


# --- macros --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("macro", "expected"),
    [
        ("@hourly", ["2026-06-10T13:00:00", "2026-06-10T14:00:00"]),
        ("@daily", ["2026-06-11T00:00:00", "2026-06-12T00:00:00"]),
        ("@midnight", ["2026-06-11T00:00:00", "2026-06-12T00:00:00"]),
        # 2026-06-10 is a Wednesday; @weekly is Sunday midnight.
        ("@weekly", ["2026-06-14T00:00:00", "2026-06-21T00:00:00"]),
        ("@monthly", ["2026-07-01T00:00:00", "2026-08-01T00:00:00"]),
        ("@yearly", ["2027-01-01T00:00:00", "2028-01-01T00:00:00"]),
        ("@annually", ["2027-01-01T00:00:00", "2028-01-01T00:00:00"]),
    ],
)
def test_macro_fires_at_its_cron_equivalent(macro: str, expected: list[str]) -> None:
    assert instants(macro, "UTC", "2026-06-10T12:34:56", 2) == [utc(t) for t in expected]


@pytest.mark.parametrize("macro", ["@DAILY", "@Daily", "@dAiLy"])
def test_macro_is_case_insensitive(macro: str) -> None:
    assert instants(macro, "UTC", "2026-06-10T12:00:00", 1) == [utc("2026-06-11T00:00:00")]


def test_macro_reads_midnight_in_the_schedule_zone() -> None:
    # Midnight in Berlin (CEST, UTC+2) is 22:00 UTC the evening before.
    assert instants("@daily", BERLIN, "2026-06-10T12:00:00", 1) == [utc("2026-06-10T22:00:00")]


def test_macro_may_be_surrounded_by_blanks() -> None:
    assert instants(" @daily\t", "UTC", "2026-06-10T12:00:00", 1) == [utc("2026-06-11T00:00:00")]


@pytest.mark.parametrize("macro", ["@often", "@daily 5", "@", "@every5m5"])
def test_unknown_macro_is_refused_listing_the_known_ones(macro: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(macro)
    message = str(caught.value)
    if macro.startswith("@every"):
        assert message == (
            "@every duration '5m5' must be numbers with units s, m, h or d (e.g. 1h30m)"
        )
    else:
        assert message == (
            f"unknown macro {macro!r} (expected one of @yearly, @annually, @monthly, @weekly, "
            "@daily, @midnight, @hourly or @every <duration>)"
        )


# --- @every --------------------------------------------------------------------------------


def test_every_is_anchored_to_the_epoch_not_to_the_question() -> None:
    assert instants("@every 5m", "UTC", "2026-01-01T12:03:10", 3) == [
        utc("2026-01-01T12:05:00"),
        utc("2026-01-01T12:10:00"),
        utc("2026-01-01T12:15:00"),
    ]


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("@every 30s", "2026-01-01T12:03:10", "2026-01-01T12:03:30"),
        ("@every 30s", "2026-01-01T12:03:30", "2026-01-01T12:04:00"),
        ("@every 2h", "2026-01-01T13:00:00", "2026-01-01T14:00:00"),
        ("@every 2h", "2026-01-01T14:00:00", "2026-01-01T16:00:00"),
        # 1h30m divides a day, so slots start at 00:00 UTC: 00:00, 01:30, ..., 12:00, 13:30.
        ("@every 1h30m", "2026-01-01T12:03:10", "2026-01-01T13:30:00"),
        ("@every 1d", "2026-01-01T12:00:00", "2026-01-02T00:00:00"),
        # 7d from the epoch (a Thursday): Thursdays 00:00 UTC. 2026-01-01 is a Thursday.
        ("@every 7d", "2025-12-31T00:00:00", "2026-01-01T00:00:00"),
        # 7m does not divide an hour: 4_208_405 * 7 min after the epoch is 2026-01-04 12:35.
        ("@every 7m", "2026-01-04T12:30:00", "2026-01-04T12:35:00"),
    ],
)
def test_every_fires_on_epoch_multiples(expression: str, after: str, expected: str) -> None:
    assert instants(expression, "UTC", after, 1) == [utc(expected)]


def test_every_ignores_the_schedule_zone() -> None:
    # Kolkata is UTC+05:30: the slots stay on the UTC grid, the wall time is local.
    fire = parse_schedule("@every 1h", "Asia/Kolkata").next_fire_time(utc("2026-01-01T12:03:10"))
    assert fire == FireTime(at=utc("2026-01-01T13:00:00"), wall_time=datetime(2026, 1, 1, 18, 30))


def test_every_has_no_drift_however_late_it_is_asked() -> None:
    schedule = parse_schedule("@every 5m", "UTC")
    askings = [utc("2026-01-01T12:03:10") + timedelta(seconds=s) for s in (0, 1, 109, 110)]
    assert [schedule.next_fire(a) for a in askings] == [
        utc("2026-01-01T12:05:00"),
        utc("2026-01-01T12:05:00"),
        utc("2026-01-01T12:05:00"),
        utc("2026-01-01T12:10:00"),
    ]


@pytest.mark.parametrize(
    ("expression", "interval"),
    [
        ("@every 30s", timedelta(seconds=30)),
        ("@every 5m", timedelta(minutes=5)),
        ("@every 2h", timedelta(hours=2)),
        ("@every 1h30m", timedelta(hours=1, minutes=30)),
        ("@every 90m", timedelta(hours=1, minutes=30)),
        ("@EVERY 1H30M", timedelta(hours=1, minutes=30)),
    ],
)
def test_every_consecutive_fires_differ_by_exactly_the_interval(
    expression: str, interval: timedelta
) -> None:
    fires = instants(expression, BERLIN, "2026-03-29T00:17:23.5", 50)
    assert [b - a for a, b in pairwise(fires)] == [interval] * 49
    assert all(
        (fire - datetime(1970, 1, 1, tzinfo=UTC)) % interval == timedelta() for fire in fires
    )


def test_every_across_dst_keeps_elapsed_time_and_reports_local_wall_time() -> None:
    # Berlin springs forward at 01:00 UTC (02:00 CET -> 03:00 CEST).
    fires = parse_schedule("@every 30m", BERLIN).upcoming(utc("2026-03-29T00:00:00"), 3)
    assert fires == [
        FireTime(at=utc("2026-03-29T00:30:00"), wall_time=datetime(2026, 3, 29, 1, 30)),
        FireTime(at=utc("2026-03-29T01:00:00"), wall_time=datetime(2026, 3, 29, 3, 0)),
        FireTime(at=utc("2026-03-29T01:30:00"), wall_time=datetime(2026, 3, 29, 3, 30)),
    ]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("@every", "@every needs a duration, e.g. @every 30s, @every 5m, @every 1h30m"),
        ("@every   ", "@every needs a duration, e.g. @every 30s, @every 5m, @every 1h30m"),
        ("@every 0s", "@every duration '0s' must be positive"),
        ("@every 0h0m", "@every duration '0h0m' must be positive"),
        (
            "@every -5m",
            "@every duration '-5m' must be numbers with units s, m, h or d (e.g. 1h30m)",
        ),
        ("@every 5", "@every duration '5' must be numbers with units s, m, h or d (e.g. 1h30m)"),
        ("@every m", "@every duration 'm' must be numbers with units s, m, h or d (e.g. 1h30m)"),
        (
            "@every 1h 30m",
            "@every duration '1h 30m' must be numbers with units s, m, h or d (e.g. 1h30m)",
        ),
        ("@every 3651d", "@every duration '3651d' is longer than 3650d"),
    ],
)
def test_every_without_a_positive_duration_is_refused(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(expression)
    assert str(caught.value) == message


def test_every_longest_allowed_duration_is_ten_years_of_days() -> None:
    assert parse_schedule("@every 3650d").every == timedelta(days=3650)


# --- other refusals ------------------------------------------------------------------------


# "a" * 300 is a file name longer than the system takes: zoneinfo's OSError is a refusal too.
@pytest.mark.parametrize(
    "zone", ["Mars/Olympus", "Europe/Berln", "", "../etc/passwd", "EST5", "a" * 300]
)
def test_unknown_time_zone_is_refused_naming_it(zone: str) -> None:
    with pytest.raises(TimezoneError) as caught:
        parse_schedule("@daily", zone)
    assert str(caught.value) == (
        f"unknown time zone {zone!r} (expected an IANA name such as Europe/Berlin)"
    )


def test_time_zone_error_is_a_value_error_but_not_a_schedule_error() -> None:
    with pytest.raises(TimezoneError) as caught:
        parse_schedule("@daily", "Nowhere/Special")
    assert isinstance(caught.value, ValueError)
    assert not isinstance(caught.value, ScheduleError)


def test_cron_errors_reach_the_schedule_caller() -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule("0 0 31 2 *", BERLIN)
    assert str(caught.value) == "schedule never fires: day-of-month 31 does not occur in month 2"


@pytest.mark.parametrize("expression", ["", "   ", "\t"])
def test_empty_schedule_is_refused(expression: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(expression)
    assert str(caught.value) == "schedule is empty"


@pytest.mark.parametrize("expression", ["0 0 * * *\n", "0;0 * * *", "0 0 [1] * *", "0 0 1 * 1%2"])
def test_schedule_with_foreign_characters_is_refused(expression: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(expression)
    assert str(caught.value) == (
        "schedule contains characters other than digits, letters, spaces and * / , - @ ? # ( )"
    )


@pytest.mark.parametrize("expression", ["@daily", "@every 5m", "0 12 * * *"])
def test_naive_after_is_refused(expression: str) -> None:
    schedule = parse_schedule(expression, BERLIN)
    with pytest.raises(ValueError, match=r"^after must be timezone-aware$"):
        schedule.next_fire(datetime(2026, 6, 1, 12, 0))
    with pytest.raises(ValueError, match=r"^after must be timezone-aware$"):
        schedule.upcoming(datetime(2026, 6, 1, 12, 0), 3)


# --- ordinary fires ------------------------------------------------------------------------


def test_fire_is_strictly_after_after_even_when_after_is_a_slot() -> None:
    assert instants("0 12 * * *", "UTC", "2026-06-01T12:00:00", 1) == [utc("2026-06-02T12:00:00")]


def test_after_in_another_zone_is_the_same_instant() -> None:
    schedule = parse_schedule("0 9 * * *", NEW_YORK)
    in_tokyo = datetime(2026, 6, 1, 21, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 12:00 UTC
    assert schedule.next_fire(in_tokyo) == utc("2026-06-01T13:00:00")
    assert schedule.next_fire(in_tokyo).tzinfo == UTC


def test_half_hour_zone_fire_time() -> None:
    fire = parse_schedule("0 9 * * *", "Asia/Kolkata").next_fire_time(utc("2026-06-01T00:00:00"))
    assert fire == FireTime(at=utc("2026-06-01T03:30:00"), wall_time=datetime(2026, 6, 1, 9, 0))


def test_feb_29_schedule_fires_in_leap_years_only() -> None:
    assert instants("0 0 29 2 *", "UTC", "2026-06-01T00:00:00", 2) == [
        utc("2028-02-29T00:00:00"),
        utc("2032-02-29T00:00:00"),
    ]


# --- DST: Europe/Berlin --------------------------------------------------------------------
# 2026-03-29 01:00 UTC: 02:00 CET -> 03:00 CEST (02:00-02:59 does not exist).
# 2026-10-25 01:00 UTC: 03:00 CEST -> 02:00 CET (02:00-02:59 happens twice).


def test_slot_in_spring_gap_fires_once_at_gap_end() -> None:
    fires = parse_schedule("30 2 * * *", BERLIN).upcoming(utc("2026-03-28T12:00:00"), 2)
    assert fires == [
        FireTime(
            at=utc("2026-03-29T01:00:00"),  # 03:00 CEST, the end of the gap
            wall_time=datetime(2026, 3, 29, 2, 30),
            note=SlotNote.SHIFTED_BY_DST_GAP,
        ),
        FireTime(at=utc("2026-03-30T00:30:00"), wall_time=datetime(2026, 3, 30, 2, 30)),
    ]


def test_fixed_hour_slot_in_autumn_repeat_fires_once_on_first_pass() -> None:
    fires = parse_schedule("30 2 * * *", BERLIN).upcoming(utc("2026-10-24T12:00:00"), 2)
    assert fires == [
        FireTime(at=utc("2026-10-25T00:30:00"), wall_time=datetime(2026, 10, 25, 2, 30)),
        FireTime(at=utc("2026-10-26T01:30:00"), wall_time=datetime(2026, 10, 26, 2, 30)),
    ]


def test_wildcard_minute_with_a_fixed_hour_does_not_repeat_in_the_autumn_hour() -> None:
    # Vixie cron, cronie and pg_cron run any job whose minute field starts with '*'
    # in both passes; pgsched repeats only schedules whose hour field does.
    fires = instants("*/20 1 * * *", NEW_YORK, "2026-11-01T04:50:00", 4)
    assert fires == [
        utc("2026-11-01T05:00:00"),  # 01:00 EDT
        utc("2026-11-01T05:20:00"),
        utc("2026-11-01T05:40:00"),
        utc("2026-11-02T06:00:00"),  # 01:00 EST the next day: no second pass
    ]


def test_a_clock_jump_of_a_whole_day_is_a_gap_whose_slots_fire_at_its_end() -> None:
    # Samoa skipped 30 December 2011. Those crons treat a jump over 3 hours as a
    # clock reset and run nothing for it; pgsched fires the slot once, at the gap's end.
    fires = parse_schedule("0 12 * * *", "Pacific/Apia").upcoming(utc("2011-12-29T00:00:00"), 3)
    assert fires == [
        FireTime(at=utc("2011-12-29T22:00:00"), wall_time=datetime(2011, 12, 29, 12)),
        FireTime(
            at=utc("2011-12-30T10:00:00"),  # 00:00 on the 31st, +14
            wall_time=datetime(2011, 12, 30, 12),
            note=SlotNote.SHIFTED_BY_DST_GAP,
        ),
        FireTime(at=utc("2011-12-30T22:00:00"), wall_time=datetime(2011, 12, 31, 12)),
    ]


def test_fixed_hour_slot_asked_during_second_pass_waits_for_next_day() -> None:
    # 01:15 UTC is 02:15 CET, the second pass: 02:30 already fired at 00:30 UTC.
    schedule = parse_schedule("30 2 * * *", BERLIN)
    assert schedule.next_fire(utc("2026-10-25T01:15:00")) == utc("2026-10-26T01:30:00")


def test_wildcard_hour_schedule_fires_in_both_passes_of_autumn_repeat() -> None:
    fires = parse_schedule("*/30 * * * *", BERLIN).upcoming(utc("2026-10-24T23:00:00"), 6)
    assert [fire.at for fire in fires] == [
        utc("2026-10-24T23:30:00"),  # 01:30 CEST
        utc("2026-10-25T00:00:00"),  # 02:00 CEST
        utc("2026-10-25T00:30:00"),  # 02:30 CEST
        utc("2026-10-25T01:00:00"),  # 02:00 CET
        utc("2026-10-25T01:30:00"),  # 02:30 CET
        utc("2026-10-25T02:00:00"),  # 03:00 CET
    ]
    assert notes(fires) == [None, None, None, SlotNote.REPEATED_HOUR, SlotNote.REPEATED_HOUR, None]
    assert [fire.wall_time.time().isoformat() for fire in fires] == [
        "01:30:00",
        "02:00:00",
        "02:30:00",
        "02:00:00",
        "02:30:00",
        "03:00:00",
    ]


def test_wildcard_hour_schedule_asked_during_first_pass_continues_into_second() -> None:
    schedule = parse_schedule("*/30 * * * *", BERLIN)
    # 00:45 UTC is 02:45 CEST; the next slot is 02:00 CET, the second pass.
    fire = schedule.next_fire_time(utc("2026-10-25T00:45:00"))
    assert fire == FireTime(
        at=utc("2026-10-25T01:00:00"),
        wall_time=datetime(2026, 10, 25, 2, 0),
        note=SlotNote.REPEATED_HOUR,
    )


def test_every_minute_schedule_has_no_hole_in_spring_gap() -> None:
    fires = instants("* * * * *", BERLIN, "2026-03-29T00:58:00", 3)
    assert fires == [
        utc("2026-03-29T00:59:00"),
        utc("2026-03-29T01:00:00"),
        utc("2026-03-29T01:01:00"),
    ]


# --- DST: America/New_York -----------------------------------------------------------------
# 2026-03-08 07:00 UTC: 02:00 EST -> 03:00 EDT (02:00-02:59 does not exist).
# 2026-11-01 06:00 UTC: 02:00 EDT -> 01:00 EST (01:00-01:59 happens twice).


def test_hourly_fires_in_both_passes_of_autumn_repeat() -> None:
    fires = parse_schedule("@hourly", NEW_YORK).upcoming(utc("2026-11-01T04:30:00"), 4)
    assert [fire.at for fire in fires] == [
        utc("2026-11-01T05:00:00"),  # 01:00 EDT
        utc("2026-11-01T06:00:00"),  # 01:00 EST
        utc("2026-11-01T07:00:00"),  # 02:00 EST
        utc("2026-11-01T08:00:00"),  # 03:00 EST
    ]
    assert notes(fires) == [None, SlotNote.REPEATED_HOUR, None, None]


def test_daily_in_repeated_hour_fires_once_on_first_pass() -> None:
    assert instants("0 1 * * *", NEW_YORK, "2026-10-31T12:00:00", 2) == [
        utc("2026-11-01T05:00:00"),  # 01:00 EDT
        utc("2026-11-02T06:00:00"),  # 01:00 EST
    ]


def test_daily_in_spring_gap_is_shifted_to_gap_end() -> None:
    fires = parse_schedule("30 2 * * *", NEW_YORK).upcoming(utc("2026-03-07T12:00:00"), 2)
    assert fires == [
        FireTime(
            at=utc("2026-03-08T07:00:00"),  # 03:00 EDT
            wall_time=datetime(2026, 3, 8, 2, 30),
            note=SlotNote.SHIFTED_BY_DST_GAP,
        ),
        FireTime(at=utc("2026-03-09T06:30:00"), wall_time=datetime(2026, 3, 9, 2, 30)),
    ]


def test_daily_at_gap_end_is_not_noted() -> None:
    fires = parse_schedule("0 3 * * *", NEW_YORK).upcoming(utc("2026-03-07T12:00:00"), 2)
    assert fires == [
        FireTime(at=utc("2026-03-08T07:00:00"), wall_time=datetime(2026, 3, 8, 3, 0)),
        FireTime(at=utc("2026-03-09T07:00:00"), wall_time=datetime(2026, 3, 9, 3, 0)),
    ]


def test_gap_slots_and_gap_end_slot_fire_together_once() -> None:
    # 02:00 and 02:30 do not exist; both shift to 03:00 EDT, where 03:00 also is a slot.
    fires = parse_schedule("0,30 2,3 * * *", NEW_YORK).upcoming(utc("2026-03-07T12:00:00"), 3)
    assert fires == [
        FireTime(
            at=utc("2026-03-08T07:00:00"),
            wall_time=datetime(2026, 3, 8, 2, 0),
            note=SlotNote.SHIFTED_BY_DST_GAP,
        ),
        FireTime(at=utc("2026-03-08T07:30:00"), wall_time=datetime(2026, 3, 8, 3, 30)),
        FireTime(at=utc("2026-03-09T06:00:00"), wall_time=datetime(2026, 3, 9, 2, 0)),
    ]


def test_next_fire_after_gap_end_does_not_repeat_gap_end() -> None:
    for expression in ("30 2 * * *", "0 3 * * *", "0,30 2,3 * * *", "*/15 * * * *"):
        schedule = parse_schedule(expression, NEW_YORK)
        assert schedule.next_fire(utc("2026-03-08T07:00:00")) > utc("2026-03-08T07:00:00")
        assert schedule.next_fire(utc("2026-03-08T06:59:59")) == utc("2026-03-08T07:00:00")


def test_quarter_hourly_gap_slots_collapse_into_one_fire() -> None:
    fires = parse_schedule("*/15 * * * *", NEW_YORK).upcoming(utc("2026-03-08T06:40:00"), 3)
    assert [fire.at for fire in fires] == [
        utc("2026-03-08T06:45:00"),  # 01:45 EST
        utc("2026-03-08T07:00:00"),  # 03:00 EDT, for 02:00 .. 03:00
        utc("2026-03-08T07:15:00"),  # 03:15 EDT
    ]
    assert notes(fires) == [None, SlotNote.SHIFTED_BY_DST_GAP, None]


# --- DST: Australia/Lord_Howe (half-hour shift) --------------------------------------------
# 2026-04-04 15:00 UTC: 02:00 +11 -> 01:30 +1030 (01:30-01:59 on 04-05 happens twice).
# 2026-10-03 15:30 UTC: 02:00 +1030 -> 02:30 +11 (02:00-02:29 on 10-04 does not exist).


def test_half_hour_gap_shifts_slot_to_its_end() -> None:
    fire = parse_schedule("15 2 * * *", "Australia/Lord_Howe").next_fire_time(
        utc("2026-10-03T00:00:00")
    )
    assert fire == FireTime(
        at=utc("2026-10-03T15:30:00"),  # 02:30 +11
        wall_time=datetime(2026, 10, 4, 2, 15),
        note=SlotNote.SHIFTED_BY_DST_GAP,
    )


def test_half_hour_repeat_fires_wildcard_twice_and_fixed_once() -> None:
    after = "2026-04-04T14:00:00"  # 01:00 +11
    wildcard = parse_schedule("45 * * * *", "Australia/Lord_Howe").upcoming(utc(after), 3)
    assert [(f.at, f.note) for f in wildcard] == [
        (utc("2026-04-04T14:45:00"), None),  # 01:45 +11
        (utc("2026-04-04T15:15:00"), SlotNote.REPEATED_HOUR),  # 01:45 +1030
        (utc("2026-04-04T16:15:00"), None),  # 02:45 +1030
    ]
    assert instants("45 1 * * *", "Australia/Lord_Howe", after, 2) == [
        utc("2026-04-04T14:45:00"),  # 01:45 +11
        utc("2026-04-05T15:15:00"),  # 01:45 +1030
    ]


# --- properties ----------------------------------------------------------------------------


def minute_or_second() -> st.SearchStrategy[str]:
    return st.one_of(
        st.just("*"),
        st.sampled_from([2, 5, 10, 15, 20, 30, 45]).map(lambda s: f"*/{s}"),
        st.lists(st.integers(0, 59), min_size=1, max_size=3).map(lambda v: ",".join(map(str, v))),
        st.tuples(st.integers(0, 58), st.integers(1, 30)).map(lambda t: f"{t[0]}/{t[1]}"),
    )


hours = st.one_of(
    st.just("*"),
    st.sampled_from(["*/2", "*/3", "*/6"]),
    st.integers(0, 23).map(str),
    # Hours around the transitions seen in the zones under test.
    st.lists(st.sampled_from([0, 1, 2, 3, 4]), min_size=1, max_size=3).map(
        lambda v: ",".join(map(str, v))
    ),
    st.tuples(st.integers(0, 3), st.integers(1, 4)).map(lambda t: f"{t[0]}-{t[0] + t[1]}"),
)
days_of_month = st.one_of(
    st.just("*"),
    st.just("*/2"),
    st.integers(1, 28).map(str),
    st.sampled_from(["1-7", "25-31", "8,15,22", "29", "31"]),
)
months = st.sampled_from(["*", "*/2", "3,4,10,11", "mar-apr", "oct-nov", "2", "*/3"])
weekdays = st.sampled_from(["*", "0", "7", "sun", "mon-fri", "6,0", "*/2", "1-5/2"])


def fires_at_all(expression: str) -> bool:
    try:
        parse_schedule(expression)
    except ScheduleError as exc:
        assert str(exc).startswith("schedule never fires: "), exc
        return False
    return True


cron_expressions = st.builds(
    lambda minute, hour, dom, month, dow: f"{minute} {hour} {dom} {month} {dow}",
    minute_or_second(),
    hours,
    days_of_month,
    months,
    weekdays,
).filter(fires_at_all)  # drops "0 0 31 2 *" and the like
six_field_expressions = st.builds(
    lambda second, rest: f"{second} {rest}",
    st.sampled_from(["0", "*/20", "15,45", "59"]),
    cron_expressions,
)
macros = st.sampled_from(["@hourly", "@daily", "@weekly", "@monthly", "@yearly"])
every = st.sampled_from(["@every 30s", "@every 5m", "@every 7m", "@every 1h30m", "@every 1d"])
expressions = st.one_of(cron_expressions, six_field_expressions, macros, every)
zones = st.sampled_from(ZONES)
# Day fields that often allow a transition day (always a Sunday in the DST zones here).
transition_day_expressions = st.builds(
    lambda minute, hour, dom, month, dow: f"{minute} {hour} {dom} {month} {dow}",
    minute_or_second(),
    hours,
    st.sampled_from(["*", "1-7", "25-31", "*/2"]),
    st.sampled_from(["*", "3,4,10,11", "*/3"]),
    st.sampled_from(["*", "0", "sun", "6,7"]),
)


@cache
def transitions(zone_name: str) -> tuple[datetime, ...]:
    """Every UTC-offset change of ``zone_name`` in 2020..2035, to the second."""
    zone = ZoneInfo(zone_name)
    found: list[datetime] = []
    day = datetime(2020, 1, 1, tzinfo=UTC)
    while day.year < 2036:
        following = day + timedelta(days=1)
        if day.astimezone(zone).utcoffset() != following.astimezone(zone).utcoffset():
            low, high = day, following
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == day.astimezone(zone).utcoffset():
                    low = middle
                else:
                    high = middle
            found.append(high.replace(microsecond=0))
        day = following
    return tuple(found)


@st.composite
def start_and_zone(draw: st.DrawFn) -> tuple[datetime, str]:
    """A zone and an instant in 2020..2035, often within hours of one of its transitions."""
    zone = draw(zones)
    anywhere = st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
    )
    nearby = st.builds(
        lambda t, offset: t + timedelta(seconds=offset),
        st.sampled_from(transitions(zone) or (datetime(2026, 1, 1, tzinfo=UTC),)),
        st.integers(-6 * 3600, 6 * 3600) | st.sampled_from([-3600, -1800, -1, 0, 1]),
    )
    return draw(nearby | anywhere), zone


@st.composite
def near_transition(draw: st.DrawFn) -> tuple[datetime, str]:
    """A DST zone and an instant up to 4 hours before (or 1 after) one of its transitions."""
    zone = draw(st.sampled_from([BERLIN, NEW_YORK, "Australia/Lord_Howe"]))
    transition = draw(st.sampled_from(transitions(zone)))
    offset = draw(st.integers(-4 * 3600, 3600) | st.sampled_from([-3600, -1800, -1, 0, 1]))
    return transition + timedelta(seconds=offset), zone


def matches(cron: CronExpression, wall: datetime) -> bool:
    return (
        wall.microsecond == 0
        and wall.second in cron.seconds
        and wall.minute in cron.minutes
        and wall.hour in cron.hours
        and wall.month in cron.months
        and cron.matches_day(wall.date())
    )


def exists(wall: datetime, zone: ZoneInfo) -> bool:
    return wall.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall


def check_fire(schedule: Schedule, fire: FireTime) -> None:
    zone = schedule.zone
    local = fire.at.astimezone(zone)
    assert fire.at.tzinfo == UTC
    if schedule.every is not None:
        assert fire.note is None
        assert (fire.at - datetime(1970, 1, 1, tzinfo=UTC)) % schedule.every == timedelta()
        assert fire.wall_time == local.replace(tzinfo=None)
        return
    assert schedule.cron is not None
    assert matches(schedule.cron, fire.wall_time)
    if fire.note is None:
        assert fire.wall_time == local.replace(tzinfo=None)
        assert local.fold == 0
    elif fire.note is SlotNote.REPEATED_HOUR:
        assert schedule.cron.hour_is_wildcard
        assert fire.wall_time == local.replace(tzinfo=None)
        assert local.fold == 1
        # The same wall time happened an offset-change earlier, on the first pass.
        first_pass = fire.wall_time.replace(tzinfo=zone, fold=0).astimezone(UTC)
        assert first_pass < fire.at
    else:
        assert fire.note is SlotNote.SHIFTED_BY_DST_GAP
        assert not exists(fire.wall_time, zone)
        # Fired at the end of the gap: the first instant of the new offset (checked
        # at the instant itself: 30 fires from 2035 can run past the transitions table).
        before = fire.at - timedelta(seconds=1)
        assert before.astimezone(zone).utcoffset() != local.utcoffset()
        assert fire.wall_time < local.replace(tzinfo=None)
        assert local.replace(tzinfo=None) - fire.wall_time <= timedelta(hours=1)


@settings(max_examples=200, deadline=None)
@given(expression=expressions, start=start_and_zone())
def test_upcoming_fires_strictly_increase_and_match(
    expression: str, start: tuple[datetime, str]
) -> None:
    after, zone = start
    schedule = parse_schedule(expression, zone)
    fires = schedule.upcoming(after, 30)
    instants_ = [fire.at for fire in fires]
    assert instants_[0] > after
    assert all(a < b for a, b in pairwise(instants_))
    for fire in fires:
        check_fire(schedule, fire)


@settings(max_examples=200, deadline=None)
@given(expression=expressions, start=start_and_zone(), data=st.data())
def test_asking_anywhere_before_a_fire_gives_that_fire(
    expression: str, start: tuple[datetime, str], data: st.DataObject
) -> None:
    after, zone = start
    schedule = parse_schedule(expression, zone)
    fires = schedule.upcoming(after, 5)
    bounds = [after, *(fire.at for fire in fires)]
    for earlier, fire in zip(bounds, fires, strict=False):
        gap_us = (fire.at - earlier) // timedelta(microseconds=1)
        back = data.draw(st.integers(1, gap_us) | st.just(1) | st.just(gap_us))
        asked = fire.at - timedelta(microseconds=back)
        assert schedule.next_fire_time(asked) == fire


MACRO_HOURS = {"@hourly": "*", "@daily": "0", "@weekly": "0", "@monthly": "0", "@yearly": "0"}


def brute_force_fires(
    expression: str, schedule: Schedule, start: datetime, end: datetime
) -> list[tuple[datetime, SlotNote | None]]:
    """The documented DST policy, minute by minute, for a 5-field schedule or macro."""
    cron, zone = schedule.cron, schedule.zone
    assert cron is not None and cron.seconds == (0,)
    hour_field = MACRO_HOURS[expression] if expression.startswith("@") else expression.split()[1]
    follows_elapsed_time = hour_field.startswith("*")
    fires: dict[datetime, SlotNote | None] = {}
    t = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while t <= end:
        local = t.astimezone(zone)
        if matches(cron, local.replace(tzinfo=None)) and (local.fold == 0 or follows_elapsed_time):
            fires[t] = SlotNote.REPEATED_HOUR if local.fold == 1 else None
        t += timedelta(minutes=1)
    for transition in transitions(schedule.timezone):
        if not start < transition <= end:
            continue
        gap_end = transition.astimezone(zone).replace(tzinfo=None)
        gap_start = (transition - timedelta(microseconds=1)).astimezone(zone).replace(
            tzinfo=None, microsecond=0
        ) + timedelta(seconds=1)
        wall = gap_start
        while wall < gap_end:  # empty unless clocks move forward
            if matches(cron, wall):
                # Also when a slot at the gap end fires then: once, noted as shifted.
                fires[transition] = SlotNote.SHIFTED_BY_DST_GAP
                break
            wall += timedelta(minutes=1)
    return sorted(fires.items())


@settings(max_examples=150, deadline=None)
@given(expression=transition_day_expressions | macros, start=near_transition())
def test_fires_near_transitions_agree_with_minute_by_minute_policy(
    expression: str, start: tuple[datetime, str]
) -> None:
    after, zone = start
    schedule = parse_schedule(expression, zone)
    end = after + timedelta(hours=6)
    actual: list[tuple[datetime, SlotNote | None]] = []
    fire = schedule.next_fire_time(after)
    while fire.at <= end:
        actual.append((fire.at, fire.note))
        fire = schedule.next_fire_time(fire.at)
    assert actual == brute_force_fires(expression, schedule, after, end)


@settings(max_examples=100, deadline=None)
@given(
    zone=st.sampled_from([BERLIN, NEW_YORK, "Australia/Lord_Howe"]),
    year=st.integers(2020, 2035),
    hour=st.integers(0, 23) | st.sampled_from([1, 2, 3]),
    minute=st.integers(0, 59),
    second=st.none() | st.integers(0, 59),
)
def test_daily_fixed_time_fires_exactly_once_every_local_day(
    zone: str, year: int, hour: int, minute: int, second: int | None
) -> None:
    expression = f"{minute} {hour} * * *" if second is None else f"{second} {minute} {hour} * * *"
    schedule = parse_schedule(expression, zone)
    tz = ZoneInfo(zone)
    after = datetime(year, 1, 1, tzinfo=tz).astimezone(UTC) - timedelta(microseconds=1)
    days: list[date] = []
    while True:
        fire = schedule.next_fire_time(after)
        if fire.wall_time.year != year:
            break
        assert fire.at.astimezone(tz).date() == fire.wall_time.date()
        days.append(fire.wall_time.date())
        after = fire.at
    first, last = date(year, 1, 1), date(year, 12, 31)
    assert days == [first + timedelta(days=n) for n in range((last - first).days + 1)]
