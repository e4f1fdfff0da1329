"""``pgsched.worker_demand``: the work an autoscaler (KEDA) sizes the workers by."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from tests.commands import add_job

Connection = psycopg.Connection[tuple[Any, ...]]

SCALED_OBJECT = Path(__file__).resolve().parents[2] / "docker/kubernetes/keda-scaledobject.yaml"


def demand(db: Connection, *args: Any) -> int:
    marks = ", ".join(["%s"] * len(args))
    row = db.execute(f"SELECT pgsched.worker_demand({marks})", list(args)).fetchone()
    assert row is not None
    return int(row[0])


def add_run(db: Connection, job: str, status: str, available_in: str = "0 seconds") -> None:
    """A run of ``job``: running now, or pending and available ``available_in`` from now."""
    db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, attempt, status, trigger,"
        "                          queue, started_at, available_at)"
        " SELECT id, name, now(), 1 + (SELECT count(*) FROM pgsched.runs WHERE job_id = j.id),"
        "        %(status)s, 'manual', queue,"
        "        CASE WHEN %(status)s = 'running' THEN now() END,"
        "        CASE WHEN %(status)s = 'pending' THEN now() + %(available_in)s::interval END"
        "   FROM pgsched.jobs AS j WHERE name = %(job)s",
        {"job": job, "status": status, "available_in": available_in},
    )


@pytest.fixture
def work(db: Connection) -> Connection:
    """Jobs and runs whose demand is known: see each line."""
    due = "now() - interval '1 second'"
    for name, queue, next_run, enabled in [
        ("due", "default", due, True),  # 1: due and running nothing
        ("due-running", "default", due, True),  # 1: its running attempt, not again
        ("soon", "default", "now() + interval '20 seconds'", True),  # 1 within 30 s
        ("later", "default", "now() + interval '1 hour'", True),  # 0 (1 within 2 h)
        ("disabled", "default", due, False),  # 0
        ("reports", "reports", due, True),  # 1, in queue reports
    ]:
        add_job(db, name, "0 0 1 1 *", queue=queue, enabled=enabled)
        db.execute(f"UPDATE pgsched.jobs SET next_run = {next_run} WHERE name = %s", [name])
    add_run(db, "due-running", "running")
    add_run(db, "later", "pending")  # 1: a manual run, available now
    add_run(db, "later", "pending", "1 hour")  # 0 (1 within 2 h): a retry waiting
    return db


def test_demand_counts_running_pending_and_due_work_once_per_attempt(work: Connection) -> None:
    assert demand(work) == 5
    assert demand(work, ["default"]) == 4
    assert demand(work, ["reports"]) == 1
    assert demand(work, ["default", "reports"], 2 * 3600) == 7
    assert demand(work, ["nobody-serves-this"]) == 0


@pytest.fixture
def reader_url(db: Connection, database_url: str) -> Iterator[str]:
    name = f"pgsched_test_{secrets.token_hex(4)}"
    db.execute(f"CREATE ROLE {name} LOGIN IN ROLE pgsched_reader")
    yield psycopg.conninfo.make_conninfo(database_url, user=name)
    db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [name])
    db.execute(f"DROP ROLE {name}")


def test_the_reader_role_may_ask_for_demand_but_not_read_runs(
    work: Connection, reader_url: str
) -> None:
    with psycopg.connect(reader_url, autocommit=True) as reader:
        assert demand(reader) == 5
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("SELECT count(*) FROM pgsched.runs")


def test_the_keda_query_of_the_manifests_answers_one_number_to_a_reader(
    work: Connection, reader_url: str
) -> None:
    (trigger,) = yaml.safe_load(SCALED_OBJECT.read_text())["spec"]["triggers"]
    with psycopg.connect(reader_url, autocommit=True) as reader:
        answer = reader.execute(trigger["metadata"]["query"]).fetchall()
    assert answer == [(5,)]


def buffers(db: Connection, call: str) -> int:
    """Shared buffers one execution of ``call`` reads, the function's statements included
    (the second execution: the first also reads the catalog)."""
    for _ in range(2):
        plan = db.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {call}").fetchone()
    assert plan is not None
    top = plan[0][0]["Plan"]
    return int(top["Shared Hit Blocks"] + top["Shared Read Blocks"])


REGISTER = """
INSERT INTO pgsched.jobs (name, schedule, kind, target, queue, priority, next_run)
SELECT 'j' || n, '0 0 1 1 *', 'python', 'app.jobs:run',
       CASE WHEN n %% 2 = 0 THEN 'default' ELSE 'reports' END, n %% 3, now() + interval '300 days'
  FROM generate_series(%(first)s::integer, %(first)s::integer + 99999) AS n
"""


def test_demand_reads_the_due_jobs_only_however_many_are_registered(db: Connection) -> None:
    # Jobs of two queues and three priorities, none due for a year; then some due.
    read = []
    for first in (1, 100_001):
        db.execute(REGISTER, {"first": first})
        db.execute("VACUUM ANALYZE pgsched.jobs")
        assert demand(db) == 0
        read.append(buffers(db, "SELECT pgsched.worker_demand(NULL, 30)"))
    # v1 read every enabled job's entry: 100 buffers at 100,000 jobs, 45 more for each
    # 100,000 more (880 at a million).
    assert read[1] - read[0] < 10
    assert buffers(db, "SELECT pgsched.worker_demand(ARRAY['reports'], 30)") < read[1]
    made_due = db.execute(
        "UPDATE pgsched.jobs SET next_run = now() WHERE id % 3000 = 0 RETURNING id"
    ).fetchall()
    assert demand(db) == len(made_due) > 60
    assert demand(db, ["default"]) + demand(db, ["reports"]) == len(made_due)
    # A running attempt counts once: a due job running counts no more as due; one not due
    # adds itself.
    due_name, later_name = db.execute(
        "SELECT (SELECT name FROM pgsched.jobs WHERE id = %s),"
        "       (SELECT name FROM pgsched.jobs WHERE id = 1)",
        [made_due[0][0]],
    ).fetchone()  # type: ignore[misc]
    add_run(db, due_name, "running")
    add_run(db, later_name, "running")
    assert demand(db) == len(made_due) + 1
