"""The database and the worker agree on which schedules are valid, and say why not.

``pgsched.schedule_error`` (SQL, at INSERT) and ``pgsched.scheduling.schedule.parse_schedule``
(Python, in the worker) implement one grammar twice; a schedule one accepts and
the other refuses would be a job that registers but never runs, or the reverse.
"""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgsched.errors import ScheduleError
from pgsched.scheduling.schedule import parse_schedule


def python_error(expression: str) -> str | None:
    try:
        parse_schedule(expression)
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
