"""Bad jobs at run time: each one fails alone with a readable reason, recorded, while a
healthy job beside them keeps every slot on time and the worker stays up.

Bad rows the database can refuse at INSERT are covered in
``tests/integration/test_job_registration.py`` (34 cases); these are the ones only
running them can reveal.
"""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.acceptance.conftest import Workers, add_job, scalar, wait_for, wait_until_registered
from tests.processes import process_gone

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]
T = "tests.jobtargets.misbehaving"
J = "tests.jobs_for_tests"
NEVER = "0 0 1 1 *"  # the cases run through run_now, once each


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    target: str
    status: str
    error: str | None = None  # words the recorded error must contain
    args: dict[str, Any] = field(default_factory=dict)
    timeout_seconds: int = 20
    output: str | None = None  # words the recorded output must contain


@pytest.fixture
def silent_server() -> Iterator[str]:
    """An HTTP endpoint that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/report"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def cases(silent_url: str, pid_file: Path) -> list[Case]:
    return [
        Case("module missing", "python", "tests.jobtargets.nope:run", "failed", "cannot import"),
        Case(
            "raises at import",
            "python",
            "tests.jobtargets.raises_at_import:run",
            "failed",
            "this module refuses to be imported",
        ),
        Case("function missing", "python", f"{T}:no_such_function", "failed", "no_such_function"),
        Case("not allowed", "python", "json:dumps", "failed", "not allowed"),
        Case(
            "unexpected arg",
            "python",
            f"{T}:needs",
            "failed",
            "arguments do not fit",
            args={"count": 1, "extra": 2},
        ),
        Case("missing arg", "python", f"{T}:needs", "failed", "arguments do not fit"),
        Case("sys.exit", "python", f"{J}:call_sys_exit", "failed", "3", args={"code": 3}),
        Case("os._exit", "python", f"{J}:hard_exit", "failed", "exit", args={"code": 9}),
        Case(
            "prints megabytes",
            "python",
            f"{T}:print_megabytes",
            "succeeded",
            args={"megabytes": 20},
            output="xxxx",
        ),
        Case(
            "forks and exits",
            "python",
            f"{T}:fork_and_exit",
            "succeeded",
            args={"pid_file": str(pid_file)},
        ),
        Case("returns junk", "python", f"{T}:unserialisable", "succeeded"),
        Case("spins forever", "python", f"{T}:spin", "timed_out", "timed out", timeout_seconds=2),
        Case("program missing", "shell", "no-such-program --flag", "failed", "not found"),
        Case("unbalanced quote", "shell", "echo 'oops", "failed", "cannot be split"),
        Case("exits 7", "shell", "sh -c 'exit 7'", "failed", "status 7"),
        Case("shell prints megabytes", "shell", "head -c 20000000 /dev/zero", "succeeded"),
        Case(
            "background child",
            "shell",
            "sh -c 'sleep 60 & echo started'",
            "succeeded",
            output="started",
        ),
        Case("bad cwd", "shell", "ls", "failed", "working directory", args={"cwd": "/no/such"}),
        Case("never answers", "http", silent_url, "timed_out", "timed out", timeout_seconds=2),
        Case("refused", "http", "http://127.0.0.1:9/x", "failed", "127.0.0.1:9"),
        Case(
            "credentials in URL",
            "http",
            "http://user:pw@127.0.0.1:9/x",
            "failed",
            "carries credentials in the URL",
        ),
        Case(
            "unset secret",
            "http",
            "http://127.0.0.1:9/x",
            "failed",
            "NO_SUCH_SECRET",
            args={"headers": {"Authorization": "Bearer ${env:NO_SUCH_SECRET}"}},
        ),
        Case("syntax error", "sql", "SELEC 1", "failed", "syntax error"),
        Case("division by zero", "sql", "SELECT 1/0", "failed", "division by zero"),
        Case(
            "runs forever",
            "sql",
            "SELECT pg_sleep(600)",
            "timed_out",
            "timed out",
            timeout_seconds=2,
        ),
        Case("open transaction", "sql", "BEGIN; SELECT 1", "failed", "transaction open"),
        Case("missing table", "sql", "DELETE FROM no_such_table", "failed", "no_such_table"),
        Case("odd name ' \" ; -- 🚀", "sql", "SELECT 42", "succeeded", output="42"),
    ]


def test_bad_jobs_are_contained_while_a_healthy_job_stays_on_time(
    workers: Workers, db: Connection, silent_server: str, tmp_path: Path
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    table = cases(silent_server, pid_file)
    # overlap "allow": each slot is claimed and started whatever became of the last
    # one. With "skip", a slot whose predecessor's outcome was not yet written (a slow
    # shared server) is recorded skipped, and two such in a row make one gap record:
    # the finisher's write latency, not the bad jobs, would decide the check. Every
    # slot is still required, each started within the bound.
    add_job(db, "canary", "tests.acceptance.jobs:noop", overlap="allow")
    for case in table:
        add_job(
            db,
            case.name,
            case.target,
            NEVER,
            kind=case.kind,
            args=case.args,
            timeout_seconds=case.timeout_seconds,
        )
    worker = workers.start(
        "--allow-shell",
        "--allow-sql",
        "--sql-allow-superuser",  # the test server's login
        "--http-allow",
        "127.0.0.1",
        concurrency=40,
    )
    wait_until_registered(db)
    db.execute("SELECT pgsched.run_now(name) FROM pgsched.jobs WHERE name <> 'canary'")
    wait_for(
        lambda: (
            scalar(
                db,
                "SELECT count(*) FROM pgsched.runs WHERE job_name <> 'canary'"
                " AND status NOT IN ('pending', 'running')",
            )
            == len(table)
        ),
        timeout=60,
        what="every bad job's attempt recorded",
    )
    recorded = {
        row[0]: row[1:]
        for row in db.execute(
            "SELECT job_name, status, error, output FROM pgsched.runs WHERE job_name <> 'canary'"
        )
    }
    for case in table:
        status, error, output = recorded[case.name]
        assert status == case.status, (case.name, status, error)
        if case.error is not None:
            assert error is not None and case.error in error, (case.name, error)
        if case.output is not None:
            assert output is not None and case.output in output, (case.name, output)
            assert len(output) < 100_000, case.name  # output is kept bounded
    assert recorded["returns junk"][2] is not None

    # What a job forks is killed with it, not left running after the attempt.
    grandchild = int(pid_file.read_text())
    wait_for(lambda: process_gone(grandchild), timeout=10, what="the forked grandchild to be gone")
    # Running, not merely the last statement of a session (an idle one keeps its text
    # until its next statement or its end, which may come a moment after the outcome).
    # The server's own backstop (statement_timeout) ended it 3 s after it began anyway,
    # long before this point: the wait weakens nothing.
    wait_for(
        lambda: (
            scalar(
                db,
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                " AND query LIKE 'SELECT pg_sleep(600)%'",
            )
            == 0
        ),
        timeout=5,
        what="the timed-out statement to be gone",
    )

    # The healthy job fired every second, on time, all along.
    wait_for(
        lambda: scalar(db, "SELECT count(*) FROM pgsched.runs WHERE job_name = 'canary'") >= 6,
        what="six canary slots",
    )
    slots = db.execute(
        "SELECT scheduled_for, started_at - scheduled_for FROM pgsched.runs"
        " WHERE job_name = 'canary' ORDER BY scheduled_for"
    ).fetchall()
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(slots)]
    assert set(gaps) == {timedelta(seconds=1)}, gaps
    # A start is recorded with the outcome: the slot still running has none yet.
    assert max(lag for _, lag in slots if lag is not None) < timedelta(seconds=2)
    assert worker.poll() is None
    assert workers.stop_all() == [0]
    assert scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'running'") == 0


def test_a_job_deleted_while_running_is_recorded_and_nothing_else_breaks(
    workers: Workers, db: Connection
) -> None:
    add_job(db, "doomed", "tests.acceptance.jobs:sleep", NEVER, args={"seconds": 2})
    # overlap "allow": each slot is claimed and started whatever became of the last
    # one. With "skip", a slot whose predecessor's outcome was not yet written (a slow
    # shared server) is recorded skipped, and two such in a row make one gap record:
    # the finisher's write latency, not the bad jobs, would decide the check. Every
    # slot is still required, each started within the bound.
    add_job(db, "canary", "tests.acceptance.jobs:noop", overlap="allow")
    workers.start()
    wait_until_registered(db)
    db.execute("SELECT pgsched.run_now('doomed')")
    wait_for(
        lambda: (
            scalar(db, "SELECT status FROM pgsched.runs WHERE job_name = 'doomed'") == "running"
        ),
        what="doomed running",
    )
    db.execute("DELETE FROM pgsched.jobs WHERE name = 'doomed'")
    wait_for(
        lambda: (
            scalar(db, "SELECT status FROM pgsched.runs WHERE job_name = 'doomed'") == "succeeded"
        ),
        what="the deleted job's attempt recorded",
    )
    assert scalar(db, "SELECT job_id FROM pgsched.runs WHERE job_name = 'doomed'") is None
    before = scalar(db, "SELECT count(*) FROM pgsched.runs WHERE job_name = 'canary'")
    wait_for(
        lambda: (
            scalar(db, "SELECT count(*) FROM pgsched.runs WHERE job_name = 'canary'") > before + 1
        ),
        what="the canary to keep running",
    )
    assert workers.stop_all() == [0]


def test_a_job_disabled_while_due_fires_no_more(workers: Workers, db: Connection) -> None:
    add_job(db, "ticker", "tests.acceptance.jobs:noop")
    workers.start()
    wait_for(
        lambda: scalar(db, "SELECT count(*) FROM pgsched.runs WHERE job_name = 'ticker'") >= 2,
        what="ticker running",
    )
    disabled_at = scalar(db, "SELECT now() FROM pgsched.toggle_job('ticker', false)")
    db.execute("SELECT pg_sleep(3)")
    late = scalar(
        db,
        "SELECT count(*) FROM pgsched.runs WHERE job_name = 'ticker' AND scheduled_for > %s",
        [disabled_at + timedelta(seconds=1)],
    )
    assert late == 0
    assert workers.stop_all() == [0]
