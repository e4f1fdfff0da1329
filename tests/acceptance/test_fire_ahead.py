"""Real workers claim slots ahead of their instant and hand python ones to their processes
before it: each slot starts at its instant, never before, once; SIGTERM hands back the
held ones at once, even those already waiting in a python process."""

from __future__ import annotations

import json
import signal
import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from tests.acceptance.conftest import Workers, scalar, wait_for, wait_until_registered

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]
JOBS = 300
# Generous: a loaded test machine; the bench holds the real targets (milliseconds).
LAG_BOUND = timedelta(seconds=1)

REGISTER = """
INSERT INTO pgsched.jobs (name, schedule, kind, target)
SELECT 'tick-' || n, %(schedule)s, 'python', 'tests.acceptance.jobs:noop'
  FROM generate_series(1, %(count)s) AS n
"""
SLOTS = """
SELECT scheduled_for, claimed_at, started_at, count(*) OVER (PARTITION BY job_id, scheduled_for)
  FROM pgsched.runs
 WHERE attempt = 1 AND status = 'succeeded' AND scheduled_for >= %(since)s
"""


def test_slots_claimed_ahead_start_at_their_instant(workers: Workers, db: Connection) -> None:
    db.execute(REGISTER, {"schedule": "* * * * * *", "count": JOBS})
    # --concurrency 10: held python slots are bounded by what the processes can begin
    # at the instant, not by how many attempts may run at once.
    workers.start(concurrency=10)
    workers.start(concurrency=10)
    wait_until_registered(db)
    time.sleep(4)  # children started, their pace measured
    since = scalar(db, "SELECT date_trunc('second', now()) + interval '1 second'")
    wait_for(
        lambda: (
            scalar(
                db,
                "SELECT count(*) FROM pgsched.runs WHERE scheduled_for >= %s "
                "AND scheduled_for < %s + interval '3 s' AND status = 'succeeded'",
                (since, since),
            )
            >= 3 * JOBS
        ),
        what="three instants run",
    )
    assert workers.stop_all() == [0, 0]
    rows = db.execute(
        SLOTS + " AND scheduled_for < %(until)s",
        {"since": since, "until": since + timedelta(seconds=3)},
    ).fetchall()
    assert len(rows) == 3 * JOBS
    assert all(copies == 1 for *_, copies in rows), "a slot started twice"
    lags = sorted(started - slot for slot, _, started, _ in rows)
    assert lags[0] >= timedelta(0), "a slot started before its instant"
    ahead = [started - slot for slot, claimed, started, _ in rows if claimed < slot]
    assert len(ahead) >= 0.8 * len(rows), f"only {len(ahead)} of {len(rows)} claimed ahead"
    assert max(ahead) < LAG_BOUND, f"claimed ahead yet started {max(ahead)} late"


def test_sigterm_hands_back_slots_held_in_python_processes(
    workers: Workers, db: Connection
) -> None:
    db.execute(REGISTER, {"schedule": "*/2 * * * * *", "count": 50})
    stopping = workers.start("--python-processes", "1", concurrency=10)
    wait_until_registered(db)
    held = (
        "SELECT count(*) FROM pgsched.runs WHERE status = 'running'"
        " AND scheduled_for > clock_timestamp()"
    )
    time.sleep(3)  # its child has started and run a few instants
    # The other starts now: it takes no slot before the first one's SIGTERM.
    taking_over = workers.start(concurrency=10)
    wait_for(lambda: scalar(db, "SELECT count(*) FROM pgsched.workers") == 2, what="the other")
    deadline = time.monotonic() + 20
    while not scalar(db, held):
        assert time.monotonic() < deadline, "no slot was ever seen held ahead"
        time.sleep(0.005)
    stopping.send_signal(signal.SIGTERM)
    assert stopping.wait(timeout=30) == 0
    released = [
        entry
        for line in workers.logs().splitlines()
        if line.startswith("{") and (entry := json.loads(line)).get("event") == "runs_released"
    ]
    assert released and released[0]["count"] > 0
    time.sleep(3)  # the other runs them, and the next instants
    assert taking_over.poll() is None
    workers.stop_all()
    doubled = scalar(
        db,
        "SELECT count(*) FROM (SELECT 1 FROM pgsched.runs WHERE attempt = 1"
        " GROUP BY job_id, scheduled_for HAVING count(*) > 1) AS twice",
    )
    early = scalar(db, "SELECT count(*) FROM pgsched.runs WHERE started_at < scheduled_for")
    not_run = scalar(
        db,
        "SELECT count(*) FROM pgsched.runs WHERE status NOT IN ('succeeded', 'skipped')",
    )
    assert (doubled, early, not_run) == (0, 0, 0)
