"""The database and the worker agree on which schedules are valid, and say why not.

``pgsched.schedule_error`` (SQL, at INSERT) and ``pgsched.scheduling.schedule.parse_schedule``
(Python, in the worker) implement one grammar twice; a schedule one accepts and
the other refuses would be a job that registers but never runs, or the reverse.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pgsched.errors import ScheduleError
from pgsched.scheduling.schedule import Schedule, parse_schedule


def python_error(expression: str) -> str | None:
    try:
        # Validity never depends on the name, but times with H need one.
        parse_schedule(expression, job_name="parity")
    except ScheduleError as exc:
        # Python quotes with repr(), which escapes a tab; SQL's %L keeps it as is.
        return str(exc).replace("\\t", "\t")
    return None


def sql_error(db: psycopg.Connection, expression: str) -> str | None:
    row = db.execute("SELECT pgsched.schedule_error(%s)", [expression]).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


values = st.one_of(
    st.integers(0, 70).map(str),
    st.sampled_from(["jan", "FEB", "dec", "sun", "Mon", "sat", "foo", "007", "", "99999999999"]),
)
bases = st.one_of(
    st.just("*"),
    values,
    st.builds(lambda a, b: f"{a}-{b}", values, values),
    st.builds(lambda a, b, c: f"{a}-{b}-{c}", values, values, values),
)
items = st.one_of(
    bases,
    st.builds(
        lambda base, step: f"{base}/{step}",
        bases,
        st.sampled_from(
            ["1", "2", "15", "0", "", "x", "5/2", "100000000000000", "7", "11", "12", "59", "60"]
        ),
    ),
)
fields = st.lists(items, min_size=1, max_size=3).map(",".join) | st.just("1,,2")
cron_expressions = st.lists(fields, min_size=4, max_size=7).map(" ".join)
every_expressions = st.builds(
    lambda prefix, body: f"{prefix}{body}",
    st.sampled_from(["@every ", "@EVERY ", "@every", "@every\t"]),
    st.text(alphabet="0123456789smhdx -", max_size=14),
)
macros = st.sampled_from(
    [
        "@hourly",
        "@Daily",
        "@weekly",
        "@monthly",
        "@yearly",
        "@annually",
        "@midnight",
        "@often",
        "@daily 5",
        "@",
    ]
)
garbage = st.text(alphabet="0123456789*/,- @\tjanmoxy;\n", max_size=25)
expressions = st.one_of(cron_expressions, every_expressions, macros, garbage)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(expression=expressions)
def test_sql_and_python_agree_on_every_schedule(db: psycopg.Connection, expression: str) -> None:
    assert sql_error(db, expression) == python_error(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 31 2 *",
        "0 0 30,31 2 *",
        "0 0 31 2 1",
        "0 0 31 4,6,9,11 *",
        "0 0 31 */2 *",
        "0 0 29 2 *",
        "0 0 31 2 */7",
        "* * * * * *",
        "0 0 L * *",
        "0 0 1W * *",
        "0 0 * * 1#2",
        "0 0 ? * *",
        "H * * * *",
        "  */5   *  * * *  ",
        "@every 1h30m",
        "@every 3650d",
        "@every 3651d",
        "@every 1234567890s",
        "*/59 * * * *",
        "*/60 * * * *",
        "0 */24 * * *",
        "0 0 */31 * *",
        "0 0 1 */12 *",
        "0 0 * * */7",
        "0 0 * * */8",
        "*/60 * * * * *",
        "0 10-20/0060 * * *",
    ],
)
def test_sql_and_python_agree_on_edge_cases(db: psycopg.Connection, expression: str) -> None:
    assert sql_error(db, expression) == python_error(expression)


# -- The syntax people paste: L, W, #, ?, ranges that wrap, H --------------------------------

PASTED_TOKENS = st.sampled_from(
    [
        "L",
        "l",
        "LW",
        "lw",
        "L-3",
        "L-0",
        "L-30",
        "L-31",
        "L-",
        "L-x",
        "L5",
        "1W",
        "15W",
        "31W",
        "32W",
        "0W",
        "W",
        "15w",
        "1W/2",
        "L/2",
        "5L",
        "FRIL",
        "fril",
        "7L",
        "8L",
        "xL",
        "MON#2",
        "1#1",
        "7#5",
        "mon#6",
        "1#0",
        "#1",
        "1#",
        "1#2#3",
        "1#2/2",
        "?",
        "?,1",
        "H",
        "h",
        "H/15",
        "H/7",
        "H/0",
        "H/60",
        "H/x",
        "H(0-29)",
        "H(0-29)/10",
        "H(0-9)/11",
        "H(5)",
        "H(30-10)",
        "H(mon-fri)",
        "H(jan-mar)/2",
        "H(",
        "H(1-2",
        "H(1-2)x",
        "H(1-2-3)",
        "H(0-99)",
        "H()",
        "FRI-MON",
        "22-2",
        "50-5/4",
        "nov-feb",
        "30-2",
        "sat-sun/2",
        "7-1",
        "JUL",
        "1-L",
        "*/2",
        "*",
    ]
)
pasted_fields = st.lists(st.one_of(PASTED_TOKENS, items), min_size=1, max_size=3).map(",".join)
pasted_expressions = st.lists(st.one_of(pasted_fields, PASTED_TOKENS), min_size=5, max_size=6).map(
    " ".join
)


def python_error_for(expression: str, job_name: str) -> str | None:
    try:
        parse_schedule(expression, job_name=job_name)
    except ScheduleError as exc:
        return str(exc).replace("\\t", "\t")
    return None


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(expression=pasted_expressions)
def test_sql_and_python_agree_on_pasted_syntax(db: psycopg.Connection, expression: str) -> None:
    found = sql_error(db, expression)
    assert found == python_error_for(expression, "any job")
    assert found == python_error_for(expression, "another job")


def valid_field(tokens: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(tokens), min_size=1, max_size=3).map(",".join)


VALID_MINUTES = ["0", "*/15", "H", "H/15", "H(0-29)/10", "50-5", "7", "H(10-20)", "*"]
VALID_HOURS = ["*", "9", "22-2", "H", "H/4", "0-23/5", "H(1-3)"]
VALID_DAYS = ["*", "?", "L", "L-3", "L-30", "15W", "1W", "31W", "LW", "29", "30-2", "H", "1"]
VALID_MONTHS = ["*", "2", "nov-feb", "H", "1-12/3", "feb,mar"]
VALID_WEEKDAYS = ["*", "?", "MON#1", "5L", "FRIL", "1#5", "FRI-MON", "H", "sat-sun", "mon"]
valid_expressions = st.builds(
    lambda *fields: " ".join(fields),
    valid_field(VALID_MINUTES),
    valid_field(VALID_HOURS),
    valid_field(VALID_DAYS),
    valid_field(VALID_MONTHS),
    valid_field(VALID_WEEKDAYS),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    expression=valid_expressions,
    job_name=st.text(min_size=1, max_size=12),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
    after=st.datetimes(
        min_value=datetime(2023, 1, 1), max_value=datetime(2033, 12, 31), timezones=st.just(UTC)
    ),
)
def test_sql_and_python_agree_on_what_pasted_syntax_fires(
    db: psycopg.Connection, expression: str, job_name: str, zone: str, after: datetime
) -> None:
    """Any valid expression: the same resolved text and the same next 6 slots."""
    job_name = job_name.replace("\x00", "") or "x"
    assume(sql_error(db, expression) is None)
    schedule = parse_schedule(expression, zone, job_name)
    assert resolved_in_sql(db, expression, job_name) == schedule.resolved
    assert slots_in_sql(db, expression, zone, after, 6, job_name) == python_slots(
        schedule, after, 6
    )


def resolved_in_sql(db: psycopg.Connection, expression: str, job_name: str) -> str:
    row = db.execute("SELECT pgsched.schedule_resolved(%s, %s)", [expression, job_name]).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def slots_in_sql(
    db: psycopg.Connection, expression: str, zone: str, after: datetime, n: int, job_name: str
) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT slot_at, wall_time, dst_note FROM pgsched.schedule_slots(%s, %s, %s, %s, %s)",
        [expression, zone, after, n, job_name],
    ).fetchall()


def python_slots(schedule: Schedule, after: datetime, n: int) -> list[tuple[Any, ...]]:
    return [
        (fire.at, fire.wall_time, fire.note.value if fire.note else None)
        for fire in schedule.upcoming(after, n)
    ]


PASTED_SCHEDULES = (
    "0 0 L * ?",
    "0 9 ? * MON#1",
    "30 6 L-3 * *",
    "0 0 L-30 * *",
    "0 12 15W * *",
    "0 12 1W * *",
    "0 12 31W * *",
    "0 12 30W * *",
    "0 12 LW * *",
    "0 0 29 2 ?",
    "0 0 L 2 ?",
    "0 0 29W 2 *",
    "0 0 28W 2 *",
    "0 0 L-1 2 *",
    "0 0 1W,15W,LW * *",
    "0 0 L * MON",
    "0 0 15W * 5L",
    "0 0 ? * 5L",
    "0 0 ? * FRIL,MON#1",
    "0 0 ? * 1#5",
    "30 2 * * FRI-MON",
    "0 22-2 * * *",
    "*/20 22-2 * * *",
    "55-5/5 1-3 * * *",
    "0 0 1 nov-feb *",
    "0 0 30-2 * *",
    "H H * * *",
    "H/15 * * * *",
    "H(0-29)/10 * * * *",
    "H H(0-5) * * ?",
    "H 2 H * *",
    "H H H H *",
    "0 H/4 * * *",
    "H/10 * * * * *",
    "0 0 ? * H",
    "0 H(1-3) L * *",
)
PASTED_ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia")
# Around DST transitions (Berlin 29 March and 25 October 2026, New York 8 March and
# 1 November 2026), month ends, a leap February (2028) and a plain one (2027).
PASTED_AFTER = (
    datetime(2026, 3, 28, 22, tzinfo=UTC),
    datetime(2026, 10, 25, 0, 15, tzinfo=UTC),
    datetime(2026, 11, 1, 5, 45, tzinfo=UTC),
    datetime(2027, 1, 30, 12, tzinfo=UTC),
    datetime(2028, 2, 1, tzinfo=UTC),
    datetime(2031, 12, 31, 23, 59, 59, tzinfo=UTC),
)


@pytest.mark.parametrize("zone", PASTED_ZONES)
def test_pasted_schedules_fire_the_same_in_sql_and_python(
    db: psycopg.Connection, zone: str
) -> None:
    for expression, after in itertools.product(PASTED_SCHEDULES, PASTED_AFTER):
        for job_name in ("nightly-report", "billing.sync", "é"):
            schedule = parse_schedule(expression, zone, job_name)
            expected = python_slots(schedule, after, 8)
            found = slots_in_sql(db, expression, zone, after, 8, job_name)
            assert found == expected, (expression, zone, after, job_name)
