"""Shell, http and sql slots claimed ahead beyond a worker's --concurrency go back to
the database before their instant, so a worker with room starts them on time, once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

from tests.acceptance.conftest import Workers, scalar, wait_for, wait_until_registered

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]
CONCURRENCY = 6
SCRIPTS = 2 * CONCURRENCY
# A script takes this long: one left waiting for a slot on its worker starts that late.
SCRIPT_SECONDS = 2
# Generous: a loaded test machine, yet well short of SCRIPT_SECONDS.
LAG_BOUND = timedelta(seconds=1)

SCRIPTS_AT = """
INSERT INTO pgsched.jobs (name, schedule, kind, target)
SELECT 'report-' || n, %(schedule)s, 'shell', %(command)s
  FROM generate_series(1, %(count)s) AS n
"""
STARTS = """
SELECT started_at - scheduled_for, worker_id,
       count(*) OVER (PARTITION BY job_id, scheduled_for, attempt)
  FROM pgsched.runs
 WHERE job_name LIKE 'report-%%' AND scheduled_for = %(instant)s AND attempt = 1
"""


def test_shell_slots_beyond_concurrency_start_on_time_on_another_worker(
    workers: Workers, db: Connection
) -> None:
    # As many python processes as scripts: a worker holds that many slots ahead
    # (ClaimPacer.hold_room) before any python pace is measured, as it holds a
    # thousand once its processes' pace is known: far beyond --concurrency, whatever
    # their kind. No python job runs: the claims ahead bring only scripts.
    for _ in range(2):
        workers.start("--allow-shell", "--python-processes", str(SCRIPTS), concurrency=CONCURRENCY)
    wait_until_registered(db)
    wait_for(lambda: scalar(db, "SELECT count(*) FROM pgsched.workers") == 2, what="both")
    instant = scalar(db, "SELECT date_trunc('second', now()) + interval '3 s'")
    # Every script's slot is that second of each minute: they share one instant, and
    # as many as both workers can run at once.
    db.execute(
        SCRIPTS_AT,
        {
            "schedule": f"{instant.second} * * * * *",
            "command": f"sleep {SCRIPT_SECONDS}",
            "count": SCRIPTS,
        },
    )
    wait_for(
        lambda: (
            scalar(
                db,
                "SELECT count(*) FROM pgsched.runs WHERE job_name LIKE 'report-%%'"
                " AND scheduled_for = %s AND status = 'succeeded'",
                (instant,),
            )
            >= SCRIPTS
        ),
        what="every script of the instant run",
    )
    assert workers.stop_all() == [0, 0]
    rows = db.execute(STARTS, {"instant": instant}).fetchall()
    assert len(rows) == SCRIPTS, "a slot did not run, or ran twice"
    assert all(copies == 1 for *_, copies in rows), "a slot started twice"
    lags = sorted(lag for lag, _, _ in rows)
    assert lags[0] >= timedelta(0), "a script started before its instant"
    assert lags[-1] < LAG_BOUND, f"scripts started late: {[str(lag) for lag in lags]}"
    assert len({worker for _, worker, _ in rows}) == 2
    # A slot handed back leaves no row of its own (no skipped or pending one either).
    recorded = scalar(db, "SELECT count(*) FROM pgsched.runs WHERE job_name LIKE 'report-%%'")
    leftover = scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'running'")
    assert (recorded, leftover) == (SCRIPTS, 0)
