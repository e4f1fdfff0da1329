"""Cron expressions: what parses, what is refused and why, and which wall-clock times match.

Pure tests of ``pgsched.scheduling.cron`` (no database, no time zones). ``croniter`` serves as an
independent oracle for the matcher.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from pgsched.errors import ScheduleError
from pgsched.scheduling.cron import parse_cron


def upcoming(expression: str, after: datetime, count: int) -> list[datetime]:
    cron = parse_cron(expression)
    times: list[datetime] = []
    for _ in range(count):
        after = cron.next_match(after)
        times.append(after)
    return times


# --- what parses ---------------------------------------------------------------------------


def test_five_field_expression_runs_at_second_zero() -> None:
    cron = parse_cron("30 4 1 6 2")
    assert cron.seconds == (0,)
    assert cron.minutes == (30,)
    assert cron.hours == (4,)
    assert cron.days_of_month == frozenset({1})
    assert cron.months == (6,)
    assert cron.weekdays == frozenset({2})


def test_six_field_expression_reads_seconds_first() -> None:
    cron = parse_cron("15 30 4 1 6 2")
    assert cron.seconds == (15,)
    assert cron.minutes == (30,)
    assert cron.hours == (4,)
    assert cron.days_of_month == frozenset({1})
    assert cron.months == (6,)
    assert cron.weekdays == frozenset({2})


def test_six_field_expression_fires_on_its_seconds() -> None:
    assert upcoming("*/20 * * * * *", datetime(2026, 1, 1, 0, 0, 0), 4) == [
        datetime(2026, 1, 1, 0, 0, 20),
        datetime(2026, 1, 1, 0, 0, 40),
        datetime(2026, 1, 1, 0, 1, 0),
        datetime(2026, 1, 1, 0, 1, 20),
    ]


def test_star_allows_the_whole_field_range() -> None:
    cron = parse_cron("* * * * *")
    assert cron.minutes == tuple(range(60))
    assert cron.hours == tuple(range(24))
    assert cron.days_of_month == frozenset(range(1, 32))
    assert cron.months == tuple(range(1, 13))
    assert cron.weekdays == frozenset(range(7))


def test_star_step_counts_from_field_minimum() -> None:
    assert parse_cron("*/15 * * * *").minutes == (0, 15, 30, 45)
    assert parse_cron("0 0 */10 * *").days_of_month == frozenset({1, 11, 21, 31})
    assert parse_cron("0 0 1 */5 *").months == (1, 6, 11)


def test_range_with_step_stays_inside_range() -> None:
    assert parse_cron("5-20/5 * * * *").minutes == (5, 10, 15, 20)
    assert parse_cron("5-21/5 * * * *").minutes == (5, 10, 15, 20)


def test_value_with_step_runs_to_field_maximum() -> None:
    assert parse_cron("50/4 * * * *").minutes == (50, 54, 58)


def test_plain_range_includes_both_ends() -> None:
    assert parse_cron("0 9-17 * * *").hours == tuple(range(9, 18))


def test_single_value_range_is_allowed() -> None:
    assert parse_cron("7-7 * * * *").minutes == (7,)


def test_list_combines_items_sorted_without_duplicates() -> None:
    assert parse_cron("45,0-10/5,5,30 * * * *").minutes == (0, 5, 10, 30, 45)


def test_month_names_are_case_insensitive() -> None:
    assert parse_cron("0 0 1 JAN,jun,Dec *").months == (1, 6, 12)


def test_month_name_range() -> None:
    assert parse_cron("0 0 1 mar-may *").months == (3, 4, 5)


def test_weekday_names_are_case_insensitive() -> None:
    assert parse_cron("0 0 * * MON,wed,Fri").weekdays == frozenset({1, 3, 5})


def test_weekday_name_range() -> None:
    assert parse_cron("0 0 * * mon-fri").weekdays == frozenset({1, 2, 3, 4, 5})


def test_sunday_is_both_zero_and_seven() -> None:
    assert parse_cron("0 0 * * 0").weekdays == frozenset({0})
    assert parse_cron("0 0 * * 7").weekdays == frozenset({0})
    assert parse_cron("0 0 * * sun").weekdays == frozenset({0})


def test_weekday_range_ending_at_seven_includes_sunday() -> None:
    assert parse_cron("0 0 * * 5-7").weekdays == frozenset({5, 6, 0})


def test_sunday_as_seven_fires_on_sundays() -> None:
    # 2026-06-07 is a Sunday.
    assert upcoming("0 12 * * 7", datetime(2026, 6, 1), 2) == [
        datetime(2026, 6, 7, 12, 0),
        datetime(2026, 6, 14, 12, 0),
    ]


def test_fields_may_be_separated_by_several_spaces_and_tabs() -> None:
    assert parse_cron(" 5\t 4  *   * *  ") == parse_cron("5 4 * * *")


def test_hour_wildcard_is_recorded() -> None:
    assert parse_cron("0 * * * *").hour_is_wildcard is True
    assert parse_cron("0 */2 * * *").hour_is_wildcard is True
    assert parse_cron("0 3 * * *").hour_is_wildcard is False
    assert parse_cron("0 0-23 * * *").hour_is_wildcard is False


# --- what is refused, and the message names the field --------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("60 * * * *", "minute field: 60 is out of range 0-59"),
        ("* 24 * * *", "hour field: 24 is out of range 0-23"),
        ("* * 0 * *", "day-of-month field: 0 is out of range 1-31"),
        ("* * 32 * *", "day-of-month field: 32 is out of range 1-31"),
        ("* * * 0 *", "month field: 0 is out of range 1-12"),
        ("* * * 13 *", "month field: 13 is out of range 1-12"),
        ("* * * * 8", "day-of-week field: 8 is out of range 0-7"),
        ("60 * * * * *", "second field: 60 is out of range 0-59"),
        ("0 60 * * * *", "minute field: 60 is out of range 0-59"),
        ("0 0 24 * * *", "hour field: 24 is out of range 0-23"),
        ("0-60 * * * *", "minute field: 60 is out of range 0-59"),
        ("1,2,99 * * * *", "minute field: 99 is out of range 0-59"),
    ],
)
def test_value_out_of_range_is_refused_naming_the_field(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_cron(expression)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("expression", "count"),
    [("* * * *", 4), ("0 * * * * * *", 7), ("*", 1), ("", 0)],
)
def test_wrong_field_count_is_refused_with_the_count(expression: str, count: int) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_cron(expression)
    assert str(caught.value) == (
        "expected 5 fields (minute hour day-of-month month day-of-week) "
        f"or 6 (second first), got {count}"
    )


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("*/0 * * * *", "minute field: step '0' must be a positive integer"),
        ("0 */0 * * *", "hour field: step '0' must be a positive integer"),
        ("0 0 1-10/0 * *", "day-of-month field: step '0' must be a positive integer"),
        ("*/ * * * *", "minute field: step '' must be a positive integer"),
        ("*/x * * * *", "minute field: step 'x' must be a positive integer"),
        ("*/-1 * * * *", "minute field: step '-1' must be a positive integer"),
        ("*/1/2 * * * *", "minute field: step '1/2' must be a positive integer"),
        ("*/0 * * * * *", "second field: step '0' must be a positive integer"),
    ],
)
def test_bad_step_is_refused_naming_the_field(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_cron(expression)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("expression", "attribute", "values"),
    [
        ("50-5 * * * *", "minutes", (0, 1, 2, 3, 4, 5, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59)),
        ("0 22-2 * * *", "hours", (0, 1, 2, 22, 23)),
        ("0 22-2/2 * * *", "hours", (0, 2, 22)),
        ("0 0 1 nov-feb *", "months", (1, 2, 11, 12)),
        ("0 0 30-2 * *", "days_of_month", frozenset({30, 31, 1, 2})),
        ("0 0 * * fri-mon", "weekdays", frozenset({5, 6, 0, 1})),
        ("0 0 * * sat-sun", "weekdays", frozenset({6, 0})),
        ("0 0 * * 7-1", "weekdays", frozenset({0, 1})),
        ("0 0 * * 6-0/2", "weekdays", frozenset({6})),
    ],
)
def test_a_range_whose_end_is_below_its_start_wraps_around(
    expression: str, attribute: str, values: object
) -> None:
    assert getattr(parse_cron(expression), attribute) == values


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("x * * * *", "minute field: 'x' is not a number"),
        ("0 noon * * *", "hour field: 'noon' is not a number"),
        ("-5 * * * *", "minute field: '' is not a number"),
        ("1-2-3 * * * *", "minute field: '2-3' is not a number"),
        ("mon * * * *", "minute field: 'mon' is not a number"),
        ("0 0 jan * *", "day-of-month field: 'jan' is not a number"),
        (
            "0 0 1 foo *",
            "month field: 'foo' is not a number or a name "
            "(jan, feb, mar, apr, may, jun, jul, aug, sep, oct, nov, dec)",
        ),
        (
            "0 0 * * monday",
            "day-of-week field: 'monday' is not a number or a name "
            "(sun, mon, tue, wed, thu, fri, sat)",
        ),
        ("1,,2 * * * *", "minute field: empty list item in '1,,2'"),
        ("0 0,  * * *", "hour field: empty list item in '0,'"),
        ("٣ * * * *", "minute field: '٣' is not a number"),
    ],
)
def test_garbage_token_is_refused_naming_the_field(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_cron(expression)
    assert str(caught.value) == message


# --- schedules that can never fire ---------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 0 31 2 *", "schedule never fires: day-of-month 31 does not occur in month 2"),
        ("0 0 30 2 *", "schedule never fires: day-of-month 30 does not occur in month 2"),
        ("0 0 30,31 feb *", "schedule never fires: day-of-month 30,31 does not occur in month 2"),
        (
            "0 0 31 4,6,9,11 *",
            "schedule never fires: day-of-month 31 does not occur in month 4,6,9,11",
        ),
        ("0 0 31 2 */7", "schedule never fires: day-of-month 31 does not occur in month 2"),
    ],
)
def test_day_that_never_occurs_in_the_months_is_refused(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_cron(expression)
    assert str(caught.value) == message


def test_day_31_is_accepted_when_one_listed_month_has_it() -> None:
    assert upcoming("0 0 31 2,3 *", datetime(2026, 1, 1), 2) == [
        datetime(2026, 3, 31),
        datetime(2027, 3, 31),
    ]


def test_impossible_day_with_restricted_weekday_fires_on_the_weekday() -> None:
    # Both day fields restricted: Feb 31 never happens, but Mondays in February do.
    assert upcoming("0 0 31 2 1", datetime(2026, 6, 1), 2) == [
        datetime(2027, 2, 1),
        datetime(2027, 2, 8),
    ]


def test_feb_29_fires_only_in_leap_years() -> None:
    assert upcoming("0 0 29 2 *", datetime(2026, 6, 1), 2) == [
        datetime(2028, 2, 29),
        datetime(2032, 2, 29),
    ]


def test_feb_29_on_a_given_weekday_is_found_decades_ahead() -> None:
    # Both restricted with '*/7' counting as '*': Feb 29 that is also a Sunday.
    assert upcoming("0 0 29 2 */7", datetime(2026, 6, 1), 2) == [
        datetime(2032, 2, 29),
        datetime(2060, 2, 29),
    ]


# --- matching ------------------------------------------------------------------------------


def test_next_match_is_strictly_after_a_matching_time() -> None:
    cron = parse_cron("0 12 * * *")
    assert cron.next_match(datetime(2026, 5, 1, 12, 0)) == datetime(2026, 5, 2, 12, 0)


def test_next_match_drops_microseconds_but_stays_strictly_after() -> None:
    cron = parse_cron("* * * * * *")
    assert cron.next_match(datetime(2026, 5, 1, 12, 0, 0, 999_999)) == datetime(
        2026, 5, 1, 12, 0, 1
    )


def test_next_match_rolls_over_the_year() -> None:
    assert upcoming("59 23 31 12 *", datetime(2026, 12, 31, 23, 59), 1) == [
        datetime(2027, 12, 31, 23, 59)
    ]


def test_next_match_skips_months_too_short_for_the_day() -> None:
    assert upcoming("0 0 31 * *", datetime(2026, 1, 31), 3) == [
        datetime(2026, 3, 31),
        datetime(2026, 5, 31),
        datetime(2026, 7, 31),
    ]


def test_both_day_fields_restricted_fire_on_either() -> None:
    # June 2026: Fridays are the 5th, 12th, 19th, 26th; the 13th is a Saturday.
    assert upcoming("0 0 13 * 5", datetime(2026, 6, 1), 5) == [
        datetime(2026, 6, 5),
        datetime(2026, 6, 12),
        datetime(2026, 6, 13),
        datetime(2026, 6, 19),
        datetime(2026, 6, 26),
    ]


def test_restricted_day_of_month_alone_ignores_weekday() -> None:
    assert upcoming("0 0 13 * *", datetime(2026, 6, 1), 2) == [
        datetime(2026, 6, 13),
        datetime(2026, 7, 13),
    ]


def test_restricted_weekday_alone_ignores_day_of_month() -> None:
    assert upcoming("0 0 * * 5", datetime(2026, 6, 1), 3) == [
        datetime(2026, 6, 5),
        datetime(2026, 6, 12),
        datetime(2026, 6, 19),
    ]


def test_starred_step_in_a_day_field_keeps_the_other_field_restricting_alone() -> None:
    # '*/2' starts with '*': a day must match both fields (odd day AND Friday).
    assert upcoming("0 0 */2 * 5", datetime(2026, 6, 1), 3) == [
        datetime(2026, 6, 5),
        datetime(2026, 6, 19),
        datetime(2026, 7, 3),
    ]


def test_matches_day_uses_or_only_when_both_fields_restricted() -> None:
    either = parse_cron("0 0 13 * 5")
    both = parse_cron("0 0 */13 * 5")
    friday_12th = datetime(2026, 6, 12).date()
    saturday_13th = datetime(2026, 6, 13).date()
    assert (either.days_or, both.days_or) == (True, False)
    assert either.matches_day(friday_12th) and either.matches_day(saturday_13th)
    assert not both.matches_day(friday_12th) and not both.matches_day(saturday_13th)


def test_matcher_walks_every_minute_of_a_day() -> None:
    cron = parse_cron("* * * * *")
    t = datetime(2026, 3, 29, 0, 0) - timedelta(minutes=1)
    count = 0
    while True:
        t = cron.next_match(t)
        if t.date() != datetime(2026, 3, 29).date():
            break
        count += 1
    assert count == 24 * 60


# --- croniter as an oracle -----------------------------------------------------------------


def fires_at_all(expression: str) -> bool:
    try:
        parse_cron(expression)
    except ScheduleError as exc:
        assert str(exc).startswith("schedule never fires: "), exc
        return False
    return True


def numbered(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    numbers = st.integers(low, high).map(str)
    if not names:
        return numbers
    return numbers | st.integers(0, len(names) - 1).map(lambda i: names[i])


def value_of(text: str, names: tuple[str, ...], start: int) -> int:
    return names.index(text) + start if text in names else int(text)


@st.composite
def restricted_item(
    draw: st.DrawFn, low: int, high: int, names: tuple[str, ...] = (), start: int = 0
) -> str:
    """An item that does not start with '*': v, v-w, v-w/s.

    Ranges span at least two values: croniter 7 reads a one-value range ``5-5`` as ``*``.
    """
    first = draw(numbered(low, high, names))
    first_value = value_of(first, names, start)
    kind = draw(st.sampled_from(["value", "range", "range-step"]))
    if kind == "value" or first_value == high:
        return first
    last = draw(numbered(first_value + 1, high))
    if kind == "range":
        return f"{first}-{last}"
    return f"{first}-{last}/{draw(st.integers(1, high - low))}"


def restricted_field(
    low: int, high: int, names: tuple[str, ...] = (), start: int = 0
) -> st.SearchStrategy[str]:
    return st.lists(restricted_item(low, high, names, start), min_size=1, max_size=3).map(",".join)


def any_field(
    low: int, high: int, names: tuple[str, ...] = (), start: int = 0
) -> st.SearchStrategy[str]:
    stars = st.just("*") | st.integers(1, high - low).map(lambda s: f"*/{s}")
    return stars | restricted_field(low, high, names, start)


MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")

# Day fields are exactly '*' or contain no '*': croniter counts '*/2' as restricted
# while Vixie cron (and pgsched) count it as '*', so those would disagree by design.
oracle_expressions = st.builds(
    lambda *fields: " ".join(fields),
    any_field(0, 59),
    any_field(0, 23),
    st.just("*") | restricted_field(1, 31),
    any_field(1, 12, MONTHS, 1),
    st.just("*") | restricted_field(0, 7, WEEKDAYS, 0),
).filter(fires_at_all)  # drops "0 0 31 2 *" and the like
starts = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31))


@settings(max_examples=300, deadline=None)
@given(expression=oracle_expressions, start=starts)
def test_next_match_agrees_with_croniter(expression: str, start: datetime) -> None:
    cron = parse_cron(expression)
    oracle = croniter(expression, start)
    expected = [oracle.get_next(datetime) for _ in range(5)]
    actual: list[datetime] = []
    after = start
    for _ in range(5):
        after = cron.next_match(after)
        actual.append(after)
    assert actual == expected
