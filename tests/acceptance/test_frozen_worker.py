"""A worker frozen inside a claim transaction (SIGSTOP, a paused VM, a long GC stall)
holds its own worker row and the jobs it claims until it resumes. Its attempts of
earlier claims are still recorded lost and retried within the lease bound, and once it
resumes it can neither overwrite them nor record a slot twice."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.acceptance.conftest import Workers, add_job, scalar, wait_for, wait_until_registered
from tests.acceptance.test_worker import start_manual_run, statuses
from tests.processes import process_stopped

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]

LEASE = 2
# A row a transaction holds: another one cannot lock it.
LOCKED = (
    "SELECT count(*) = 0 FROM (SELECT 1 FROM pgsched.{} WHERE {} = %s FOR UPDATE SKIP LOCKED) AS s"
)


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
        args={"seconds": 1, "path": str(tmp_path / "done")},
    )
    frozen = workers.start(lease_seconds=LEASE, module="tests.acceptance.frozen_worker")
    wait_until_registered(db)
    start_manual_run(db, "held")  # an attempt of a claim that committed
    add_job(db, "due", "tests.acceptance.jobs:noop")  # its first slot freezes the next claim
    wait_for(lambda: process_stopped(frozen.pid), what="the worker frozen inside its claim")
    frozen_id = scalar(db, "SELECT id FROM pgsched.workers")
    # What the frozen claim holds: its worker row (FOR SHARE) and the job it claimed.
    assert scalar(db, LOCKED.format("workers", "id"), [frozen_id])
    assert scalar(db, LOCKED.format("jobs", "name"), ["due"])

    workers.start(lease_seconds=LEASE)
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
    # The frozen worker was not stopped (its row is held), and the job its claim locked
    # stays unclaimed until that claim ends: no one else records its slots meanwhile.
    assert scalar(db, "SELECT stopped_at IS NULL FROM pgsched.workers WHERE id = %s", [frozen_id])
    assert scalar(db, "SELECT count(*) FROM pgsched.runs WHERE job_name = 'due'") == 0

    frozen.send_signal(signal.SIGCONT)
    wait_for(lambda: "run_result_dropped" in workers.logs(), what="the late result dropped")
    wait_for(
        lambda: scalar(db, "SELECT count(*) FROM pgsched.runs WHERE job_name = 'due'") > 2,
        what="the frozen claim committed and the job firing again",
    )
    assert statuses(db, "held") == [(1, "lost", "manual"), (2, "succeeded", "retry")]
    # One first attempt per slot, the frozen claim's slot included.
    assert scalar(
        db,
        "SELECT count(*) = count(DISTINCT scheduled_for) FROM pgsched.runs"
        " WHERE job_name = 'due' AND attempt = 1",
    )
    assert frozen.poll() is None
    assert workers.stop_all() == [0, 0]
