"""How the demo judges its workers' ends, on a real database."""

from __future__ import annotations

import io
import signal
from pathlib import Path

from pgsched.db.connection import session
from pgsched.demo.session import _Screen, _wind_down
from pgsched.demo.workers import WorkerExit


def ends(database_url: str, *returncodes: int) -> list[str]:
    exits = [
        WorkerExit(f"pgsched-demo-{n}", 1000 + n, code, False, Path(f"/tmp/w{n}.log"))
        for n, code in enumerate(returncodes, start=1)
    ]
    with session(database_url, "pgsched-test") as connection:
        return _wind_down(connection, exits, [], _Screen(io.StringIO()))


def test_a_worker_stopped_by_sigterm_before_it_could_handle_it_is_no_problem(
    database_url: str,
) -> None:
    assert ends(database_url, 0, -signal.SIGTERM) == []


def test_a_worker_that_failed_or_died_otherwise_is_a_problem(database_url: str) -> None:
    problems = ends(database_url, 1, -signal.SIGSEGV)
    assert [problem.split(" exited with ")[1].split(";")[0] for problem in problems] == [
        "status 1",
        "killed by SIGSEGV",
    ]
