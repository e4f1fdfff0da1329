"""The cron syntax people paste from Quartz, AWS and Jenkins: L, W, #, ?, wrap-around
ranges and H. Quartz's meanings, Vixie cron's day rule, and H stable per job name."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import pytest

from pgsched.errors import ScheduleError
from pgsched.scheduling.cron import HASH_NEEDS_NAME, parse_cron
from pgsched.scheduling.words import describe


def days(expression: str, after: datetime, count: int, job_name: str | None = None) -> list[date]:
    cron = parse_cron(expression, job_name)
    found = []
    for _ in range(count):
        after = cron.next_match(after)
        found.append(after.date())
    return found


def times(expression: str, after: datetime, count: int, job_name: str | None = None) -> list[str]:
    cron = parse_cron(expression, job_name)
    found = []
    for _ in range(count):
        after = cron.next_match(after)
        found.append(f"{after:%H:%M}")
    return found


START = datetime(2027, 1, 1)


def test_l_is_the_last_day_of_each_month_and_of_february_in_leap_years() -> None:
    assert days("0 0 L * ?", START, 4) == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
    ]
    assert days("0 0 L 2 ?", START, 3) == [date(2027, 2, 28), date(2028, 2, 29), date(2029, 2, 28)]


def test_l_minus_n_counts_back_from_the_last_day_and_skips_months_too_short() -> None:
    assert days("0 0 L-3 * *", START, 3) == [
        date(2027, 1, 28),
        date(2027, 2, 25),
        date(2027, 3, 28),
    ]
    # 28 days before the last: the 3rd of a 31-day month, the 1st of a leap February,
    # nothing in a 28-day February.
    assert days("0 0 L-28 1-3 *", START, 4) == [
        date(2027, 1, 3),
        date(2027, 3, 3),
        date(2028, 1, 3),
        date(2028, 2, 1),
    ]


@pytest.mark.parametrize(
    ("expression", "month", "expected"),
    [
        ("0 0 15W * *", "2027-05", date(2027, 5, 14)),  # Saturday 15th: Friday before
        ("0 0 15W * *", "2027-08", date(2027, 8, 16)),  # Sunday 15th: Monday after
        ("0 0 15W * *", "2027-09", date(2027, 9, 15)),  # a Wednesday stays
        ("0 0 1W * *", "2028-04", date(2028, 4, 3)),  # Saturday 1st: Monday 3rd, not March
        ("0 0 1W * *", "2027-08", date(2027, 8, 2)),  # Sunday 1st: Monday 2nd
        ("0 0 31W * *", "2027-10", date(2027, 10, 29)),  # Sunday 31st: Friday 29th, not November
        ("0 0 30W * *", "2027-04", date(2027, 4, 30)),
        ("0 0 LW * *", "2027-07", date(2027, 7, 30)),  # Saturday 31st: Friday 30th
        ("0 0 LW * *", "2027-10", date(2027, 10, 29)),  # Sunday 31st: Friday 29th
        ("0 0 29W 2 *", "2032-02", date(2032, 2, 27)),  # leap Sunday 29th: Friday 27th
    ],
)
def test_w_is_the_nearest_weekday_and_never_leaves_the_month(
    expression: str, month: str, expected: date
) -> None:
    year, number = (int(part) for part in month.split("-"))
    # From the last second of the month before: the month's own fire comes first.
    assert days(expression, datetime(year, number, 1) - timedelta(seconds=1), 1) == [expected]


def test_w_on_a_day_the_month_lacks_does_not_fire_that_month() -> None:
    assert days("0 0 31W * *", datetime(2027, 3, 31, 1), 2) == [
        date(2027, 5, 31),
        date(2027, 7, 30),  # Saturday 31st: Friday 30th
    ]
    assert days("0 0 29W 2 *", START, 2) == [date(2028, 2, 29), date(2032, 2, 27)]


def test_hash_is_the_nth_weekday_and_l_after_a_weekday_the_last() -> None:
    assert days("0 9 ? * MON#1", START, 3) == [date(2027, 1, 4), date(2027, 2, 1), date(2027, 3, 1)]
    assert days("0 9 ? * 1#5", START, 3) == [
        date(2027, 3, 29),
        date(2027, 5, 31),
        date(2027, 8, 30),
    ]
    assert days("0 0 ? * FRIL", START, 2) == [date(2027, 1, 29), date(2027, 2, 26)]
    assert days("0 0 * * 5L", START, 2) == days("0 0 ? * fril", START, 2)
    assert days("0 0 * * 0L", START, 1) == days("0 0 * * 7L", START, 1) == [date(2027, 1, 31)]


def test_question_mark_is_any_day_as_a_star_is() -> None:
    for expression, same in [("0 0 L * ?", "0 0 L * *"), ("0 0 ? * 1", "0 0 * * 1")]:
        assert days(expression, START, 10) == days(same, START, 10)


def test_vixie_or_rule_holds_with_the_new_day_items() -> None:
    # Both day fields restricted: the last day OR any Monday.
    either = days("0 0 L * MON", START, 6)
    assert either == [
        date(2027, 1, 4),
        date(2027, 1, 11),
        date(2027, 1, 18),
        date(2027, 1, 25),
        date(2027, 1, 31),
        date(2027, 2, 1),
    ]
    # One side * or ?: both must match, i.e. the other side alone.
    assert days("0 0 L * *", START, 2) == [date(2027, 1, 31), date(2027, 2, 28)]
    assert days("0 0 ? * MON#2", START, 1) == [date(2027, 1, 11)]
    # 15W or the last Friday.
    assert days("0 0 15W * 5L", START, 3) == [
        date(2027, 1, 15),
        date(2027, 1, 29),
        date(2027, 2, 15),
    ]


def test_ranges_that_wrap_around_the_field_end() -> None:
    assert times("0 22-2 * * *", datetime(2027, 1, 1, 12), 5) == [
        "22:00",
        "23:00",
        "00:00",
        "01:00",
        "02:00",
    ]
    assert days("0 0 * * FRI-MON", datetime(2026, 12, 31, 12), 5) == [
        date(2027, 1, 1),
        date(2027, 1, 2),
        date(2027, 1, 3),
        date(2027, 1, 4),
        date(2027, 1, 8),
    ]
    assert parse_cron("50-5/5 * * * *").minutes == (0, 5, 50, 55)
    assert parse_cron("0 0 1 nov-feb *").months == (1, 2, 11, 12)


def test_h_is_stable_for_a_name_and_spreads_jobs_with_one_expression() -> None:
    # md5('nightly-report') = c38a6c3a...: minute reads 0x6c3a = 27706 (27706 % 60 = 46).
    assert parse_cron("H * * * *", "nightly-report").text == "46 * * * *"
    assert parse_cron("H/15 * * * *", "nightly-report").text == "1-59/15 * * * *"
    minutes = Counter(parse_cron("H * * * *", f"job-{i}").minutes[0] for i in range(1000))
    assert set(minutes) == set(range(60))
    # 1000 jobs over 60 minutes: about 17 a minute, never a pile-up at :00.
    assert max(minutes.values()) < 35


def test_h_with_a_range_and_a_step_stays_in_its_range() -> None:
    for i in range(200):
        cron = parse_cron("H(0-29)/10 H(9-17) * * H(1-5)", f"job-{i}")
        first = cron.minutes[0]
        assert 0 <= first <= 9
        assert cron.minutes == tuple(range(first, 30, 10))
        assert len(cron.hours) == 1 and 9 <= cron.hours[0] <= 17
        assert len(cron.weekdays) == 1 and 1 <= min(cron.weekdays) <= 5
        # A bare H in day-of-month stays within 1-28 so that it fires every month.
        assert 1 <= min(parse_cron("0 0 H * *", f"job-{i}").days_of_month) <= 28


def test_fields_of_one_job_pick_independently() -> None:
    picks = {parse_cron("H H * * *", f"job-{i}").text for i in range(300)}
    assert len(picks) > 250


def test_h_without_a_job_name_is_valid_but_has_no_times() -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_cron("H * * * *")
    assert str(caught.value) == HASH_NEEDS_NAME


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 0 32W * *", "day-of-month field: W needs a day 1-31, got '32W'"),
        ("0 0 0W * *", "day-of-month field: W needs a day 1-31, got '0W'"),
        ("0 0 W * *", "day-of-month field: W needs a day 1-31, got 'W'"),
        ("L * * * *", "minute field: L is only allowed in day-of-month and day-of-week, got 'L'"),
        ("0 L-2 * * *", "hour field: L is only allowed in day-of-month and day-of-week, got 'L-2'"),
        ("0 0 * 1W *", "month field: W is only allowed in day-of-month, got '1W'"),
        ("0 0 * * 1W", "day-of-week field: W is only allowed in day-of-month, got '1W'"),
        ("0 0 1#2 * *", "day-of-month field: # is only allowed in day-of-week, got '1#2'"),
        ("0 0 * * MON#6", "day-of-week field: # needs a week 1-5, got 'MON#6'"),
        ("0 0 * * FOO#1", "day-of-week field: 'FOO' is not a number or a name"),
        ("0 0 * * L", "day-of-week field: L needs a weekday before it"),
        ("0 0 L-31 * *", "day-of-month field: L-n needs n from 0 to 30, got 'L-31'"),
        ("0 0 L5 * *", "day-of-month field: 'L5' is not L, LW or L-n"),
        ("0 0 L/2 * *", "day-of-month field: 'L' takes no step, got 'L/2'"),
        ("0 0 ?,1 * *", "day-of-month field: ? stands alone (any day), got '?,1'"),
        ("? * * * *", "minute field: ? is only allowed in day-of-month and day-of-week"),
        ("H(5) * * * *", "minute field: H(low-high) needs a range, got 'H(5)'"),
        ("H(30-10) * * * *", "minute field: H range '30-10' runs backwards (H ranges do not wrap)"),
        ("H(0-9)/11 * * * *", "minute field: step 11 is larger than H's range 0-9"),
        ("H(0-99) * * * *", "minute field: 99 is out of range 0-59"),
        ("Hx * * * *", "minute field: 'Hx' is not H, H/step, H(low-high) or H(low-high)/step"),
        ("0 0 30W 2 *", "schedule never fires: day-of-month 30W does not occur in month 2"),
        ("0 0 L-29 2 *", "schedule never fires: day-of-month L-29 does not occur in month 2"),
        (
            "0 0 H(29-31) 2 *",
            "schedule never fires for some job names: H in day-of-month H(29-31) or month 2"
            " can pick a day that the month does not have",
        ),
    ],
)
def test_errors_name_the_field_and_say_what_is_wrong(expression: str, message: str) -> None:
    for job_name in ("a", "b", None):
        with pytest.raises(ScheduleError) as caught:
            parse_cron(expression, job_name)
        assert str(caught.value).startswith(message)


def test_a_valid_expression_is_valid_whatever_the_name() -> None:
    # The worst case decides: H(1-29) in February may pick 29, which leap years have.
    for i in range(100):
        parse_cron("0 0 H(1-29) 2 *", f"job-{i}")
        parse_cron("0 0 L-28 2 *", f"job-{i}")


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 0 L * ?", "at 00:00, on the last day of the month"),
        ("0 9 ? * MON#1", "at 09:00, on the first Monday of the month"),
        ("0 0 ? * FRIL", "at 00:00, on the last Friday of the month"),
        ("0 0 L-3 * *", "at 00:00, 3 days before the last day of the month"),
        ("0 0 15W * *", "at 00:00, on the weekday nearest day 15 of the month"),
        ("0 0 LW * *", "at 00:00, on the last weekday of the month"),
        ("H * * * *", "at minute H, hour * (H: picked from the job's name)"),
        ("0 0 * * thu", "at 00:00, on Thursday"),
    ],
)
def test_the_pasted_syntax_in_words(expression: str, words: str) -> None:
    assert describe(expression) == words
