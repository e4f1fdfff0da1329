"""One python target grammar: the database's INSERT check and the python executor's agree."""

from __future__ import annotations

import re

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgsched.db.resources import sql_dir
from pgsched.executors.python_target import PYTHON_TARGET, target_problem

SQL_FILE = sql_dir() / "functions" / "python_target_error.v1.sql"


def sql_refuses(db: psycopg.Connection, target: str) -> bool:
    row = db.execute("SELECT pgsched.python_target_error(%s) IS NOT NULL", [target]).fetchone()
    assert row is not None
    return bool(row[0])


def test_the_sql_check_holds_the_python_executors_pattern() -> None:
    patterns = re.findall(r"target ~ '([^']+)'", SQL_FILE.read_text())
    assert patterns == [PYTHON_TARGET.pattern]


names = st.sampled_from(["app", "jobs", "_private", "__loader__", "a1", "1a", "", "Class", "x_"])
targets = st.one_of(
    st.builds(
        lambda module, attribute: f"{'.'.join(module)}:{'.'.join(attribute)}",
        st.lists(names, min_size=1, max_size=3),
        st.lists(names, min_size=1, max_size=3),
    ),
    st.text(alphabet="ab_.:1 \n-", max_size=12),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(target=targets)
def test_sql_and_python_agree_on_every_target(db: psycopg.Connection, target: str) -> None:
    assert sql_refuses(db, target) == (target_problem(target) is not None)


def test_the_grammar_allows_functions_and_methods_and_nothing_deeper(
    db: psycopg.Connection,
) -> None:
    for target in ("app.jobs:run", "app:Report.send", "_app.x:run_2"):
        assert not sql_refuses(db, target) and target_problem(target) is None, target
    for target in (
        "app.jobs:logging.os.system",
        "app.jobs:__loader__.get_data",
        "app.jobs:_helper",
        "app.jobs:Report._send",
        "app.jobs.run",
        "app.jobs:run\n",
        "app..jobs:run",
    ):
        assert sql_refuses(db, target) and target_problem(target) is not None, target
