"""Replay (pgsched.retry_run, `pgsched runs retry`) against real PostgreSQL."""

from __future__ import annotations

import json
import threading
from typing import Any

import psycopg
import pytest

from tests.commands import add_job, as_json, invoke
from tests.logins import new_login

Connection = psycopg.Connection[tuple[Any, ...]]
SLOT = "2026-03-01 09:00+00"


def add_run(
    db: Connection,
    job_id: int,
    status: str,
    attempt: int = 1,
    slot: str = SLOT,
    ago: str = "1 hour",
) -> int:
    """A run of job ``job_id``'s slot, finished ``ago`` unless pending or running."""
    finished = status not in ("pending", "running")
    found = db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, attempt, status, finished_at,"
        " error)"
        " SELECT id, name, %s, %s, %s, CASE WHEN %s THEN now() - %s::interval END, 'boom'"
        "   FROM pgsched.jobs WHERE id = %s RETURNING id",
        [slot, attempt, status, finished, ago, job_id],
    ).fetchone()
    assert found is not None
    return int(found[0])


def slot_attempts(db: Connection, job_id: int, slot: str = SLOT) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT attempt, status, trigger FROM pgsched.runs"
        " WHERE job_id = %s AND scheduled_for = %s ORDER BY attempt",
        [job_id, slot],
    ).fetchall()


def retry(db: Connection, run_id: int) -> int:
    found = db.execute("SELECT pgsched.retry_run(%s)", [run_id]).fetchone()
    assert found is not None
    return int(found[0])


def test_retry_run_queues_a_manual_attempt_of_the_same_slot_after_its_last(db: Connection) -> None:
    job_id = add_job(db, "payments", max_attempts=2)
    add_run(db, job_id, "failed", attempt=1)
    last = add_run(db, job_id, "failed", attempt=2)
    new_id = retry(db, last)
    row = db.execute(
        "SELECT job_id, scheduled_for = %s::timestamptz, attempt, status, trigger,"
        " available_at <= now() FROM pgsched.runs WHERE id = %s",
        [SLOT, new_id],
    ).fetchone()
    assert row == (job_id, True, 3, "pending", "manual", True)


def test_retry_run_twice_gives_one_attempt_and_returns_it_both_times(db: Connection) -> None:
    job_id = add_job(db, "payments")
    failed = add_run(db, job_id, "failed")
    first = retry(db, failed)
    assert retry(db, failed) == first
    assert slot_attempts(db, job_id) == [(1, "failed", "schedule"), (2, "pending", "manual")]


def test_concurrent_retry_runs_of_one_slot_make_one_attempt(
    database_url: str, db: Connection
) -> None:
    job_id = add_job(db, "payments")
    failed = add_run(db, job_id, "failed")
    answers: list[int] = []
    barrier = threading.Barrier(8)

    def replay() -> None:
        with psycopg.connect(database_url, autocommit=True) as connection:
            barrier.wait()
            answers.append(retry(connection, failed))

    threads = [threading.Thread(target=replay) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(answers)) == 1 and len(answers) == 8
    assert slot_attempts(db, job_id) == [(1, "failed", "schedule"), (2, "pending", "manual")]


def test_retry_run_of_a_slot_with_a_retry_pending_returns_the_retry(db: Connection) -> None:
    job_id = add_job(db, "payments", max_attempts=3)
    failed = add_run(db, job_id, "failed")
    pending = add_run(db, job_id, "pending", attempt=2)
    assert retry(db, failed) == pending
    assert len(slot_attempts(db, job_id)) == 2


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("running", r"is not finished \(it is running\)"),
        ("pending", r"is not finished \(it is pending\)"),
        ("skipped", "is a skipped record, not an attempt"),
    ],
)
def test_retry_run_refuses_a_run_not_finished_or_skipped(
    db: Connection, status: str, message: str
) -> None:
    run_id = add_run(db, add_job(db, "payments"), status)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match=message):
        retry(db, run_id)


def test_retry_run_refuses_an_unknown_run(db: Connection) -> None:
    with pytest.raises(psycopg.errors.NoDataFound, match="no run with id 424242"):
        retry(db, 424242)


def test_retry_run_refuses_a_disabled_or_deleted_job(db: Connection) -> None:
    disabled = add_run(db, add_job(db, "paused", enabled=False), "failed")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="'paused' is disabled"):
        retry(db, disabled)
    gone_id = add_job(db, "gone")
    gone = add_run(db, gone_id, "failed")
    db.execute("DELETE FROM pgsched.jobs WHERE id = %s", [gone_id])
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="'gone' was deleted"):
        retry(db, gone)


def test_retry_run_is_in_the_audit_trail_with_the_actor(db: Connection) -> None:
    job_id = add_job(db, "payments")
    failed = add_run(db, job_id, "timed_out")
    db.execute("SET pgsched.actor = 'ops:alice'")
    new_id = retry(db, failed)
    change = db.execute(
        "SELECT change, actor, old_values, new_values->'run_id', new_values->'attempt'"
        "  FROM pgsched.job_changes WHERE job_id = %s ORDER BY id DESC LIMIT 1",
        [job_id],
    ).fetchone()
    assert change == ("retry_run", "ops:alice", {"run_id": failed}, new_id, 2)


def test_admin_may_retry_a_run_and_reader_may_not(database_url: str, db: Connection) -> None:
    failed = add_run(db, add_job(db, "payments"), "failed")
    with (
        new_login(db, database_url, "pgsched_reader") as reader_url,
        psycopg.connect(reader_url, autocommit=True) as reader,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        retry(reader, failed)
    with (
        new_login(db, database_url, "pgsched_admin") as admin_url,
        psycopg.connect(admin_url, autocommit=True) as admin,
    ):
        assert retry(admin, failed) > failed


def test_runs_retry_command_says_what_each_id_did(database_url: str, db: Connection) -> None:
    job_id = add_job(db, "payments")
    failed = add_run(db, job_id, "failed")
    running = add_run(db, job_id, "running", slot="2026-03-02 09:00+00")
    first = as_json(invoke(database_url, "runs", "retry", str(failed), "--json"))
    assert [(r["run_id"], r["outcome"], r["attempt"]) for r in first] == [(failed, "queued", 2)]
    again = invoke(database_url, "runs", "retry", str(failed), str(running), "999999", "--json")
    assert again.exit_code == 1
    assert again.stderr.strip() == "Error: 2 of 3 refused"
    rows = json.loads(again.stdout)
    assert [(r["run_id"], r["outcome"], r["new_run_id"]) for r in rows] == [
        (failed, "already pending", first[0]["new_run_id"]),
        (running, "refused", None),
        (999999, "refused", None),
    ]
    assert "not finished" in rows[1]["refusal"] and "no run with id" in rows[2]["refusal"]


def test_runs_retry_failed_since_replays_each_failed_slot_once(
    database_url: str, db: Connection
) -> None:
    payments = add_job(db, "payments")
    other = add_job(db, "other")
    add_run(db, payments, "failed", slot="2026-03-01 09:00+00")
    add_run(db, payments, "lost", slot="2026-03-01 10:00+00")
    # A slot that failed, then succeeded on its retry, is not a dead letter.
    add_run(db, payments, "failed", slot="2026-03-01 11:00+00")
    add_run(db, payments, "succeeded", attempt=2, slot="2026-03-01 11:00+00")
    add_run(db, payments, "failed", slot="2026-03-01 12:00+00", ago="3 days")
    add_run(db, other, "failed", slot="2026-03-01 09:00+00")
    result = as_json(
        invoke(database_url, "runs", "retry", "--failed-since", "2d", "--job", "payments", "--json")
    )
    assert sorted(str(r["scheduled_for"])[11:16] for r in result) == ["09:00", "10:00"]
    assert {r["outcome"] for r in result} == {"queued"}
    # The replays are pending: a second bulk replay finds nothing left to replay.
    again = invoke(database_url, "runs", "retry", "--failed-since", "2d", "--job", "payments")
    assert again.exit_code == 0 and "(no failed slots)" in again.output


def test_runs_without_a_subcommand_still_lists_runs(database_url: str, db: Connection) -> None:
    add_run(db, add_job(db, "payments"), "failed")
    listed = as_json(invoke(database_url, "runs", "--job", "payments", "--json"))
    assert [r["status"] for r in listed] == ["failed"]
