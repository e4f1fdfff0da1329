"""Real worker processes: slots fire once, crashes lose nothing, shutdown drains,
the database may go away, and stopped work really stops."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.acceptance.conftest import (
    Workers,
    add_job,
    let_go_of_its_attempt,
    pause_between_transactions,
    scalar,
    wait_for,
    wait_until_registered,
)
from tests.conftest import database_url_for

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]


def statuses(db: Connection, job: str) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT attempt, status, trigger FROM pgsched.runs WHERE job_name = %s"
        " ORDER BY scheduled_for, attempt",
        [job],
    ).fetchall()


def succeeded(db: Connection) -> int:
    return int(scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'succeeded'"))


def start_manual_run(db: Connection, job: str) -> None:
    """``run_now`` the job and wait until a worker runs its first attempt."""
    db.execute("SELECT pgsched.run_now(%s)", [job])
    wait_for(lambda: statuses(db, job) == [(1, "running", "manual")], what=f"{job} running")


def test_slot_fires_once_with_many_workers(workers: Workers, db: Connection) -> None:
    for i in range(100):
        add_job(db, f"tick-{i:03}", "tests.acceptance.jobs:noop")
    for _ in range(3):
        workers.start(concurrency=40)
    wait_for(lambda: scalar(db, "SELECT count(*) FROM pgsched.runs") > 0, what="first runs")
    window_start = scalar(db, "SELECT date_trunc('second', now()) + interval '2 seconds'")
    # Twenty seconds of slots by the database clock, which is what decides them.
    wait_for(
        lambda: scalar(db, "SELECT now() >= %s + interval '18 seconds'", [window_start]),
        timeout=60,
        what="the window to pass",
    )
    window_end = scalar(db, "SELECT date_trunc('second', now()) - interval '2 seconds'")
    assert workers.stop_all() == [0, 0, 0], workers.logs()[-3000:]

    seconds = int((window_end - window_start).total_seconds()) + 1
    # A skip record may stand for consecutive slots (scheduled_for..missed_until).
    per_job = db.execute(
        "SELECT j.name, count(s.slot), count(DISTINCT s.slot),"
        "       count(*) FILTER (WHERE r.status = 'succeeded')"
        "  FROM pgsched.jobs AS j LEFT JOIN pgsched.runs AS r"
        "    ON r.job_id = j.id AND r.attempt = 1"
        "  LEFT JOIN LATERAL generate_series(r.scheduled_for,"
        "       coalesce(r.missed_until, r.scheduled_for), interval '1 second') AS s(slot)"
        "    ON s.slot BETWEEN %s AND %s"
        " GROUP BY j.name",
        [window_start, window_end],
    ).fetchall()
    assert len(per_job) == 100
    wrong = [row for row in per_job if row[1:3] != (seconds, seconds) or row[3] == 0]
    assert wrong == [], f"expected {seconds} slots per job, each once: {wrong[:5]}"
    # A slot not run is recorded with its reason: on a loaded machine a no-op can
    # still be "running" (its outcome not yet written) when the next second is due.
    others = db.execute(
        "SELECT status, error FROM pgsched.runs WHERE status <> 'succeeded'"
        " AND scheduled_for BETWEEN %s AND %s",
        [window_start, window_end],
    ).fetchall()
    assert all(status == "skipped" and "overlap=skip" in error for status, error in others)
    assert (
        scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status IN ('running', 'pending')") == 0
    )
    # Each of the three processes ran slots. Counted by process, not by worker id: under
    # load a worker can miss its lease, be declared dead and rejoin under a new id.
    worker_processes = (
        "SELECT count(DISTINCT (w.host, w.pid)) FROM pgsched.runs AS r"
        " JOIN pgsched.workers AS w ON w.id = r.worker_id"
    )
    assert scalar(db, worker_processes) == 3


def test_killed_worker_run_is_lost_then_retried_and_succeeds(
    workers: Workers, db: Connection, tmp_path: Path
) -> None:
    marker = tmp_path / "second-attempt-done"
    add_job(
        db,
        "long",
        "tests.acceptance.jobs:sleep_then_touch",
        schedule="0 0 1 1 *",
        max_attempts=2,
        retry_delay_seconds=0,
        args={"seconds": 2, "path": str(marker)},
    )
    doomed = workers.start(lease_seconds=2)
    wait_for(lambda: scalar(db, "SELECT count(*) FROM pgsched.jobs WHERE next_run IS NOT NULL"))
    start_manual_run(db, "long")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    workers.start(lease_seconds=2)
    wait_for(
        lambda: statuses(db, "long") == [(1, "lost", "manual"), (2, "succeeded", "retry")],
        timeout=30,
        what="lost attempt retried",
    )
    assert marker.exists()
    error = scalar(db, "SELECT error FROM pgsched.runs WHERE attempt = 1")
    assert "stopped heartbeating" in error


def test_sigterm_lets_the_running_attempt_finish(workers: Workers, db: Connection) -> None:
    add_job(
        db, "drain-me", "tests.acceptance.jobs:sleep", schedule="0 0 1 1 *", args={"seconds": 2}
    )
    worker = workers.start()
    wait_until_registered(db)
    start_manual_run(db, "drain-me")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0
    assert statuses(db, "drain-me") == [(1, "succeeded", "manual")]
    assert scalar(db, "SELECT stopped_at IS NOT NULL FROM pgsched.workers") is True


def test_sigterm_past_the_grace_period_records_the_attempt_for_retry(
    workers: Workers, db: Connection, tmp_path: Path
) -> None:
    marker = tmp_path / "never"
    add_job(
        db,
        "too-slow",
        "tests.acceptance.jobs:sleep_then_touch",
        schedule="0 0 1 1 *",
        args={"seconds": 5, "path": str(marker)},
    )
    worker = workers.start("--grace-period", "0.5")
    wait_until_registered(db)
    start_manual_run(db, "too-slow")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0
    assert statuses(db, "too-slow") == [(1, "lost", "manual"), (2, "pending", "retry")]
    time.sleep(5.5)
    assert not marker.exists()


def test_timed_out_python_and_shell_jobs_are_really_gone(
    workers: Workers, db: Connection, tmp_path: Path
) -> None:
    python_marker, shell_marker = tmp_path / "python", tmp_path / "shell"
    add_job(
        db,
        "python-overrun",
        "tests.acceptance.jobs:sleep_then_touch",
        schedule="0 0 1 1 *",
        timeout_seconds=1,
        args={"seconds": 3, "path": str(python_marker)},
    )
    add_job(
        db,
        "shell-overrun",
        f"sh -c 'sleep 3; touch {shell_marker}'",
        schedule="0 0 1 1 *",
        kind="shell",
        timeout_seconds=1,
    )
    workers.start("--allow-shell")
    wait_until_registered(db)
    db.execute("SELECT pgsched.run_now('python-overrun'), pgsched.run_now('shell-overrun')")
    wait_for(
        lambda: scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'timed_out'") == 2,
        what="both attempts timed out",
    )
    time.sleep(3.5)
    assert not python_marker.exists() and not shell_marker.exists()


def test_dropped_connections_do_not_stop_the_worker(workers: Workers, db: Connection) -> None:
    add_job(db, "steady", "tests.acceptance.jobs:noop")
    worker = workers.start()
    wait_for(lambda: succeeded(db) > 1)
    for _ in range(3):
        before = succeeded(db)
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name LIKE 'pgsched-worker%%' AND datname = current_database()"
        )
        wait_for(lambda before=before: succeeded(db) > before + 1, what="runs after reconnecting")
    assert worker.poll() is None
    assert workers.stop_all() == [0]
    assert scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'running'") == 0


def test_bad_jobs_fail_alone_with_a_readable_error(workers: Workers, db: Connection) -> None:
    add_job(db, "good", "tests.acceptance.jobs:noop")
    add_job(db, "missing-module", "tests.acceptance.nope:run", schedule="0 0 1 1 *")
    add_job(db, "not-allowed", "json:dumps", schedule="0 0 1 1 *")
    add_job(db, "bad-args", "tests.acceptance.jobs:sleep", schedule="0 0 1 1 *", args={"x": 1})
    workers.start()
    wait_until_registered(db)
    db.execute("SELECT pgsched.run_now(name) FROM pgsched.jobs WHERE name <> 'good' ORDER BY name")
    wait_for(
        lambda: scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'failed'") == 3,
        what="three failed runs",
    )
    errors = dict(
        db.execute("SELECT job_name, error FROM pgsched.runs WHERE status = 'failed'").fetchall()
    )
    assert "cannot import" in errors["missing-module"]
    assert "not allowed" in errors["not-allowed"]
    assert "arguments do not fit" in errors["bad-args"]
    before = scalar(db, "SELECT count(*) FROM pgsched.runs WHERE job_name = 'good'")
    wait_for(
        lambda: scalar(db, "SELECT count(*) FROM pgsched.runs WHERE job_name = 'good'") > before + 1
    )
    assert workers.stop_all() == [0]


def test_paused_worker_cannot_overwrite_the_attempt_taken_from_it(
    workers: Workers, db: Connection, tmp_path: Path
) -> None:
    add_job(
        db,
        "paused",
        "tests.acceptance.jobs:sleep_then_touch",
        schedule="0 0 1 1 *",
        max_attempts=2,
        retry_delay_seconds=0,
        # Long enough to pause the worker before the attempt ends, on a loaded host too.
        args={"seconds": 3, "path": str(tmp_path / "done")},
    )
    paused = workers.start(lease_seconds=2)
    wait_until_registered(db)
    start_manual_run(db, "paused")
    # Its job finishes meanwhile; it cannot report. Paused outside its transactions, it
    # is declared dead within the lease (frozen inside one: test_frozen_worker.py).
    pause_between_transactions(db, paused)
    assert statuses(db, "paused") == [(1, "running", "manual")]
    workers.start(lease_seconds=2)
    wait_for(
        lambda: statuses(db, "paused") == [(1, "lost", "manual"), (2, "succeeded", "retry")],
        what="the attempt taken over and retried",
    )
    paused.send_signal(signal.SIGCONT)
    wait_for(lambda: let_go_of_its_attempt(workers.logs()), what="the late attempt let go")
    wait_for(lambda: "worker_rejoined" in workers.logs(), what="the paused worker rejoining")
    assert statuses(db, "paused") == [(1, "lost", "manual"), (2, "succeeded", "retry")]
    assert paused.poll() is None
    assert workers.stop_all() == [0, 0]


def test_overlap_replace_stops_the_running_attempt(
    workers: Workers, db: Connection, tmp_path: Path
) -> None:
    marker = tmp_path / "never"
    add_job(
        db,
        "replaced",
        "tests.acceptance.jobs:sleep_then_touch",
        schedule="*/2 * * * * *",
        overlap="replace",
        args={"seconds": 4, "path": str(marker)},
    )
    workers.start("--grace-period", "0")
    wait_for(
        lambda: scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'cancelled'") >= 2,
        what="two replaced attempts",
    )
    assert workers.stop_all() == [0]
    errors = db.execute("SELECT error FROM pgsched.runs WHERE status = 'cancelled'").fetchall()
    assert all("overlap=replace" in error for (error,) in errors)
    time.sleep(4.5)
    assert not marker.exists()


def test_checkpoint_carries_over_to_the_next_run(workers: Workers, db: Connection) -> None:
    add_job(db, "counter", "tests.acceptance.jobs:count_runs", schedule="0 0 1 1 *")
    workers.start()
    wait_until_registered(db)
    for done in range(1, 4):
        db.execute("SELECT pgsched.run_now('counter')")
        wait_for(
            lambda done=done: (
                scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'succeeded'") == done
            )
        )
    assert scalar(db, "SELECT checkpoint FROM pgsched.jobs WHERE name = 'counter'") == 3
    outputs = [row[0] for row in db.execute("SELECT output FROM pgsched.runs ORDER BY id")]
    assert outputs == ["return: 1", "return: 2", "return: 3"]


def test_postgres_restart_is_survived(workers: Workers) -> None:
    home = Path(tempfile.mkdtemp(prefix="pgsched-restart-", dir="/tmp"))
    home.chmod(0o755)
    pgsched = [sys.executable, "-m", "pgsched"]
    url = subprocess.run(
        [*pgsched, "db", "start", "--home", str(home)], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        subprocess.run([*pgsched, "migrate", "--database-url", url], check=True)
        with psycopg.connect(url, autocommit=True) as db:
            add_job(db, "survivor", "tests.acceptance.jobs:noop")
        workers.database_url = url
        worker = workers.start()

        def succeeded_here() -> int:
            with psycopg.connect(url, autocommit=True) as db:
                return int(
                    scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'succeeded'")
                )

        wait_for(lambda: succeeded_here() >= 2, what="runs before the restart")
        failures_before = outage_signs(workers.logs())
        subprocess.run([*pgsched, "db", "stop", "--home", str(home)], check=True)
        wait_for(
            lambda: outage_signs(workers.logs()) > failures_before,
            what="the worker to notice the database is gone",
        )
        subprocess.run([*pgsched, "db", "start", "--home", str(home)], check=True)
        before = succeeded_here()
        wait_for(lambda: succeeded_here() >= before + 3, timeout=60, what="runs after the restart")
        assert worker.poll() is None
        assert workers.stop_all() == [0]
        with psycopg.connect(url, autocommit=True) as db:
            assert scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'running'") == 0
    finally:
        subprocess.run([*pgsched, "db", "stop", "--home", str(home)], check=False)
        shutil.rmtree(home, ignore_errors=True)


def outage_signs(logs: str) -> int:
    """Log lines of a worker finding its database gone: a claim or the listener failing."""
    return logs.count('"claim_failed"') + logs.count('"listener_disconnected"')


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_worker_without_jobs_sleeps_instead_of_polling(workers: Workers, db: Connection) -> None:
    worker = workers.start()
    wait_until_registered(db)
    time.sleep(1)
    before = cpu_seconds(worker.pid)
    time.sleep(4)
    # A worker re-polling every few milliseconds burns a fifth of a core here.
    assert cpu_seconds(worker.pid) - before < 0.2
    assert workers.stop_all() == [0]


def test_second_sigterm_stops_at_once_and_kills_the_work(
    workers: Workers, db: Connection, tmp_path: Path
) -> None:
    marker = tmp_path / "never"
    add_job(
        db,
        "interrupted",
        "tests.acceptance.jobs:sleep_then_touch",
        schedule="0 0 1 1 *",
        args={"seconds": 4, "path": str(marker)},
    )
    worker = workers.start("--grace-period", "60")
    wait_until_registered(db)
    start_manual_run(db, "interrupted")
    worker.send_signal(signal.SIGTERM)
    time.sleep(1.5)  # a second signal within a second counts as the same one
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0
    # The worker left as stopped: the next reaper records the attempt lost.
    assert scalar(db, "SELECT stopped_at IS NOT NULL FROM pgsched.workers") is True
    time.sleep(3)
    assert not marker.exists()


def test_a_worker_started_before_its_database_waits_for_it(
    server_url: str, template_database: str, tmp_path: Path
) -> None:
    name = f"pgsched_test_late_{os.getpid()}"
    url = database_url_for(server_url, name)
    early = Workers(url, tmp_path)
    process = early.start()
    try:
        wait_for(lambda: "database_unavailable" in early.logs(), what="the worker waiting")
        assert process.poll() is None
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_database}")
        with psycopg.connect(url, autocommit=True) as db:
            add_job(db, "tick", "tests.acceptance.jobs:noop")
            wait_for(
                lambda: scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'succeeded'"),
                what="a run once the database exists",
            )
        assert early.stop_all() == [0]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_worker_waiting_for_its_database_stops_cleanly_on_sigterm(
    server_url: str, tmp_path: Path
) -> None:
    early = Workers(database_url_for(server_url, "pgsched_test_never_created"), tmp_path)
    process = early.start()
    wait_for(lambda: "database_unavailable" in early.logs(), what="the worker waiting")
    assert early.stop_all() == [0]
    assert process.returncode == 0
