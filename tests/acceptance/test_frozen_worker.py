"""A worker frozen inside a claim transaction (SIGSTOP, a paused VM, a long GC stall)
holds its own worker row and the jobs it claims. Its attempts of earlier claims are
still recorded lost and retried within the lease bound; what the frozen claim holds is
released at half the lease, when the server ends the transaction (transaction_timeout
on PostgreSQL 17+; before it idle_in_transaction_session_timeout, since the claim
plans with its backend idle); and once it resumes the worker can neither overwrite an
attempt taken from it nor record a slot twice."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.acceptance.conftest import (
    Workers,
    add_job,
    let_go_of_its_attempt,
    scalar,
    wait_for,
    wait_until_registered,
)
from tests.acceptance.test_worker import start_manual_run, statuses
from tests.processes import process_stopped

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]

# Long enough that the checks below see the frozen claim before PostgreSQL 17+ ends it.
LEASE = 4
# A row a transaction holds: another one cannot lock it.
LOCKED = (
    "SELECT count(*) = 0 FROM (SELECT 1 FROM pgsched.{} WHERE {} = %s FOR UPDATE SKIP LOCKED) AS s"
)
FROZEN_CLAIM_START = (
    "SELECT xact_start FROM pg_stat_activity WHERE datname = current_database()"
    " AND application_name = 'pgsched-worker' AND xact_start IS NOT NULL"
)
DUE_RUNS = "SELECT count(*) FROM pgsched.runs WHERE job_name = 'due'"


def test_a_worker_frozen_inside_a_claim_loses_its_attempts_within_the_lease(
    workers: Workers, db: Connection, tmp_path: Path
) -> None:
    add_job(
        db,
        "held",
        "tests.acceptance.jobs:sleep_then_touch",
        schedule="0 0 1 1 *",
        max_attempts=2,
        retry_delay_seconds=0,
        # Running still when the worker freezes (its next claim, at the next second).
        args={"seconds": 3, "path": str(tmp_path / "done")},
    )
    frozen = workers.start(lease_seconds=LEASE, module="tests.acceptance.frozen_worker")
    wait_until_registered(db)
    start_manual_run(db, "held")  # an attempt of a claim that committed
    add_job(db, "due", "tests.acceptance.jobs:noop")  # its first slot freezes the next claim
    wait_for(lambda: process_stopped(frozen.pid), what="the worker frozen inside its claim")
    frozen_id = scalar(db, "SELECT id FROM pgsched.workers")
    frozen_since = scalar(db, FROZEN_CLAIM_START)
    assert statuses(db, "held") == [(1, "running", "manual")]
    # What the frozen claim holds: its worker row (FOR SHARE) and the job it claimed.
    assert scalar(db, LOCKED.format("workers", "id"), [frozen_id])
    assert scalar(db, LOCKED.format("jobs", "name"), ["due"])

    workers.start(lease_seconds=LEASE)
    # The server ends the frozen claim at half the lease, whatever the worker does.
    wait_for(
        lambda: not scalar(db, LOCKED.format("jobs", "name"), ["due"]),
        what="the frozen claim ended by the server",
    )
    held_for = scalar(db, "SELECT extract(epoch FROM clock_timestamp() - %s)", [frozen_since])
    assert held_for < LEASE / 2 + 0.5, held_for
    wait_for(
        lambda: statuses(db, "held") == [(1, "lost", "manual"), (2, "succeeded", "retry")],
        what="the frozen worker's attempt recorded lost and retried",
    )
    # Within the lease bound: the round after the lease lapsed (or after the other
    # worker joined), one recovery interval (lease / 3), with a second for a loaded host.
    late = scalar(
        db,
        "SELECT extract(epoch FROM r.finished_at - greatest(f.last_heartbeat_at + %s * interval"
        " '1 second', o.started_at)) FROM pgsched.runs AS r, pgsched.workers AS f,"
        " pgsched.workers AS o WHERE r.job_name = 'held' AND r.attempt = 1 AND f.id = %s"
        " AND o.id <> f.id",
        [LEASE, frozen_id],
    )
    assert late < LEASE / 3 + 1, late
    # The job is the other worker's to claim while this one is still frozen, and this
    # one, its row free, is declared dead.
    wait_for(lambda: scalar(db, DUE_RUNS), what="the other worker firing the job")
    assert scalar(
        db, "SELECT stopped_at IS NOT NULL FROM pgsched.workers WHERE id = %s", [frozen_id]
    )

    frozen.send_signal(signal.SIGCONT)
    wait_for(lambda: let_go_of_its_attempt(workers.logs()), what="the late attempt let go")
    wait_for(lambda: "worker_rejoined" in workers.logs(), what="the frozen worker rejoining")
    before = scalar(db, DUE_RUNS)
    wait_for(lambda: scalar(db, DUE_RUNS) > before + 1, what="the job firing on")
    assert statuses(db, "held") == [(1, "lost", "manual"), (2, "succeeded", "retry")]
    # One first attempt per slot, whoever claimed it.
    assert scalar(
        db,
        "SELECT count(*) = count(DISTINCT scheduled_for) FROM pgsched.runs"
        " WHERE job_name = 'due' AND attempt = 1",
    )
    assert frozen.poll() is None
    assert workers.stop_all() == [0, 0]
