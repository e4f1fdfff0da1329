"""Real worker processes running python attempts in batches: SIGTERM hands back at once
the attempts queued behind a running one, which another worker then runs, once."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.acceptance.conftest import Workers, add_job, scalar, wait_for, wait_until_registered

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]
QUICK = 5


def test_sigterm_hands_back_attempts_queued_behind_a_running_one_at_once(
    workers: Workers, db: Connection, tmp_path: Path
) -> None:
    add_job(
        db,
        "slow",
        "tests.acceptance.jobs:sleep_then_touch",
        schedule="0 0 1 1 *",
        args={"seconds": 12, "path": str(tmp_path / "slow")},
    )
    for n in range(QUICK):
        add_job(
            db,
            f"quick-{n}",
            "tests.acceptance.jobs:sleep_then_touch",
            schedule="0 0 1 1 *",
            args={"seconds": 0, "path": str(tmp_path / f"quick-{n}")},
        )
    # One python process: the quick attempts, claimed with the slow one, can only
    # wait behind it (sent to the child in one batch, then taken back to wait).
    stopping = workers.start("--python-processes", "1", "--grace-period", "60")
    wait_until_registered(db)
    wait_for(lambda: scalar(db, "SELECT bool_and(next_run IS NOT NULL) FROM pgsched.jobs"))
    db.execute(
        "UPDATE pgsched.jobs SET next_run = now() - CASE WHEN name = 'slow'"
        " THEN interval '200 ms' ELSE interval '100 ms' END"
    )
    claimed = "SELECT count(*) FROM pgsched.runs WHERE status = 'running'"
    wait_for(lambda: scalar(db, claimed) == QUICK + 1, what="all claimed by one worker")
    taking_over = workers.start()
    wait_for(lambda: scalar(db, "SELECT count(*) FROM pgsched.workers") == 2, what="the other")
    time.sleep(0.5)  # the other worker's python process has started (it starts one first)
    assert not (tmp_path / "quick-0").exists(), "the slow attempt ended before SIGTERM"
    stopping.send_signal(signal.SIGTERM)
    assert stopping.wait(timeout=60) == 0
    wait_for(
        lambda: (
            scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'succeeded'") == QUICK + 1
        ),
        timeout=30,
        what="every attempt to succeed",
    )
    runs = db.execute(
        "SELECT job_name, status, worker_id, started_at FROM pgsched.runs ORDER BY job_name"
    ).fetchall()
    assert len(runs) == QUICK + 1  # one attempt each: none ran twice, none lost
    slow = runs[-1]
    assert slow[0] == "slow"
    quick = runs[:-1]
    # The slow one finished where it began; the queued ones were handed back at SIGTERM
    # and run by the other worker while the slow one still ran, not after it.
    assert all(run[2] != slow[2] for run in quick)
    slow_finished = scalar(db, "SELECT finished_at FROM pgsched.runs WHERE job_name = 'slow'")
    assert all(run[3] < slow_finished for run in quick), (runs, slow_finished)
    assert all((tmp_path / f"quick-{n}").exists() for n in range(QUICK))
    taking_over.send_signal(signal.SIGTERM)
    assert taking_over.wait(timeout=30) == 0


def test_a_python_timeout_counts_from_when_the_attempt_begins_not_while_it_waits(
    workers: Workers, db: Connection, tmp_path: Path
) -> None:
    add_job(
        db,
        "slow",
        "tests.acceptance.jobs:sleep_then_touch",
        schedule="0 0 1 1 *",
        args={"seconds": 2.5, "path": str(tmp_path / "slow")},
    )
    add_job(
        db,
        "quick",
        "tests.acceptance.jobs:sleep_then_touch",
        schedule="0 0 1 1 *",
        args={"seconds": 0.2, "path": str(tmp_path / "quick")},
        timeout_seconds=1,
    )
    # One python process: the quick attempt waits behind the slow one, longer than
    # its timeout, then runs well within it.
    worker = workers.start("--python-processes", "1")
    wait_until_registered(db)
    wait_for(lambda: scalar(db, "SELECT bool_and(next_run IS NOT NULL) FROM pgsched.jobs"))
    db.execute(
        "UPDATE pgsched.jobs SET next_run = now() - CASE WHEN name = 'slow'"
        " THEN interval '200 ms' ELSE interval '100 ms' END"
    )
    finished = "SELECT count(*) FROM pgsched.runs WHERE finished_at IS NOT NULL"
    wait_for(lambda: scalar(db, finished) == 2, timeout=30, what="both attempts to end")
    runs = dict(
        db.execute("SELECT job_name, status FROM pgsched.runs ORDER BY job_name").fetchall()
    )
    assert runs == {"quick": "succeeded", "slow": "succeeded"}
    waited = scalar(
        db,
        "SELECT extract(epoch FROM max(started_at) FILTER (WHERE job_name = 'quick')"
        " - max(claimed_at) FILTER (WHERE job_name = 'quick')) FROM pgsched.runs",
    )
    assert waited > 1  # it did wait longer than its timeout before it began
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
