"""Real worker processes: a slot fanned out to shards runs each shard once, side by
side on any worker, with its own retries and checkpoint, and reads as one slot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.acceptance.conftest import Workers, add_job, scalar, wait_for, wait_until_registered

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]


def finished_slots(db: Connection, job: str, slots: int) -> list[Any]:
    """The job's first ``slots`` slots once none of their attempts waits or runs."""
    rows = db.execute(
        "SELECT scheduled_for FROM pgsched.runs WHERE job_name = %s AND status <> 'skipped'"
        " GROUP BY scheduled_for"
        " HAVING bool_and(status NOT IN ('pending', 'running'))"
        "    AND NOT EXISTS (SELECT 1 FROM pgsched.runs AS p WHERE p.job_name = %s"
        "                     AND p.status IN ('pending', 'running')"
        "                     AND p.scheduled_for <= min(runs.scheduled_for))"
        " ORDER BY scheduled_for LIMIT %s",
        [job, job, slots],
    ).fetchall()
    return [row[0] for row in rows] if len(rows) == slots else []


def test_each_slot_runs_every_shard_once_in_parallel_on_two_workers(
    workers: Workers, db: Connection, tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    # Two shards per worker at most: the slot's four must use both workers.
    workers.start("--python-processes", "2", concurrency=2)
    workers.start("--python-processes", "2", concurrency=2)
    # Both running before the first slot: shards a worker still starting (its python
    # processes) cannot take begin late, not side by side, on a loaded host.
    wait_for(lambda: workers.logs().count('"worker_started"') == 2, what="both workers started")
    add_job(
        db,
        "fan-out",
        "tests.acceptance.jobs:record_shard",
        # A slot takes 6 s (3 s shards, then shard 2's retry): every 10 s leaves each
        # slot both workers free, with 4 s to spare for a loaded host.
        schedule="*/10 * * * * *",
        shards=4,
        max_attempts=2,
        retry_delay_seconds=0,
        args={"directory": str(notes), "fail_shard": 2, "seconds": 3.0},
    )
    slots = wait_for(lambda: finished_slots(db, "fan-out", 2), timeout=90, what="two slots")
    db.execute("UPDATE pgsched.jobs SET enabled = false WHERE name = 'fan-out'")

    for slot in slots:
        runs = db.execute(
            "SELECT shard, attempt, status, trigger, worker_id, started_at, finished_at"
            " FROM pgsched.runs WHERE job_name = 'fan-out' AND scheduled_for = %s"
            " ORDER BY shard, attempt",
            [slot],
        ).fetchall()
        firsts = [(shard, trigger) for shard, attempt, _, trigger, *_ in runs if attempt == 1]
        assert sorted(shard for shard, _ in firsts) == [0, 1, 2, 3]
        assert {trigger for _, trigger in firsts} == {"schedule"}
        # Shard 2 failed once and was retried alone, as shard 2.
        assert [(s, a, st) for s, a, st, *_ in runs] == [
            (0, 1, "succeeded"),
            (1, 1, "succeeded"),
            (2, 1, "failed"),
            (2, 2, "succeeded"),
            (3, 1, "succeeded"),
        ]
        firsts_rows = [row for row in runs if row[1] == 1]
        assert len({row[4] for row in firsts_rows}) == 2, "the shards ran on both workers"
        latest_start = max(row[5] for row in firsts_rows)
        earliest_end = min(row[6] for row in firsts_rows)
        assert latest_start < earliest_end, "the four shards of a slot ran side by side"

    seen = sorted(note.read_text() for note in notes.iterdir())
    for slot in slots:
        mine = [line.split()[1:] for line in seen if line.startswith(slot.isoformat())]
        assert sorted(mine) == [
            ["0", "4", "1"],
            ["1", "4", "1"],
            ["2", "4", "1"],
            ["2", "4", "2"],
            ["3", "4", "1"],
        ]
    outcomes = db.execute(
        "SELECT scheduled_for, status, attempts, shards, failed_shards"
        " FROM pgsched.job_slot_outcomes(ARRAY['fan-out'], 100) WHERE scheduled_for = ANY(%s)"
        " ORDER BY scheduled_for",
        [slots],
    ).fetchall()
    assert outcomes == [(slot, "succeeded", 2, 4, 0) for slot in slots]


def test_a_shard_that_keeps_failing_fails_its_slot_and_only_its_slot(
    workers: Workers, db: Connection, tmp_path: Path
) -> None:
    add_job(
        db,
        "one-bad-shard",
        "tests.acceptance.jobs:record_shard",
        schedule="0 0 1 1 *",
        shards=3,
        max_attempts=2,
        retry_delay_seconds=0,
        # Negative: shard 1 fails on every attempt.
        args={"directory": str(tmp_path), "fail_shard": -2, "seconds": 0.0},
    )
    workers.start(concurrency=2)
    workers.start(concurrency=2)
    wait_until_registered(db)
    first = scalar(db, "SELECT pgsched.run_now('one-bad-shard')")
    wait_for(
        lambda: (
            scalar(
                db,
                "SELECT count(*) FROM pgsched.runs WHERE job_name = 'one-bad-shard'"
                " AND status IN ('succeeded', 'failed')",
            )
            == 4
        ),
        what="three shards and one retry finished",
    )
    runs = db.execute(
        "SELECT shard, attempt, status, trigger FROM pgsched.runs"
        " WHERE job_name = 'one-bad-shard' ORDER BY shard, attempt"
    ).fetchall()
    assert runs == [
        (0, 1, "succeeded", "manual"),
        (1, 1, "failed", "manual"),
        (1, 2, "failed", "retry"),
        (2, 1, "succeeded", "manual"),
    ]
    assert scalar(db, "SELECT shard FROM pgsched.runs WHERE id = %s", [first]) == 0
    outcome = db.execute(
        "SELECT status, attempts, shards, failed_shards, error"
        " FROM pgsched.job_slot_outcomes(ARRAY['one-bad-shard'])"
    ).fetchall()
    assert outcome == [("failed", 2, 3, 1, "RuntimeError: shard 1 failed on purpose")]


def test_each_shard_resumes_from_its_own_checkpoint(workers: Workers, db: Connection) -> None:
    add_job(db, "shard-counter", "tests.acceptance.jobs:count_shard_runs", schedule="0 0 1 1 *")
    db.execute("UPDATE pgsched.jobs SET shards = 3 WHERE name = 'shard-counter'")
    workers.start(concurrency=3)
    workers.start(concurrency=3)
    wait_until_registered(db)
    for done in range(1, 3):
        db.execute("SELECT pgsched.run_now('shard-counter')")
        wait_for(
            lambda done=done: (
                scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'succeeded'")
                == 3 * done
            ),
            what=f"round {done}",
        )
    assert scalar(db, "SELECT checkpoint FROM pgsched.jobs WHERE name = 'shard-counter'") == 2
    shard_checkpoints = db.execute(
        "SELECT shard, checkpoint FROM pgsched.job_shard_checkpoints ORDER BY shard"
    ).fetchall()
    assert shard_checkpoints == [(1, 2), (2, 2)]
    outputs = db.execute(
        "SELECT shard, output FROM pgsched.runs ORDER BY scheduled_for, shard"
    ).fetchall()
    assert [output for _, output in outputs] == [
        f"return: 'shard {shard}: {count}'" for count in (1, 2) for shard in range(3)
    ]
