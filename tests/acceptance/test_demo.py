"""`pgsched demo` as a real process: every kind runs, and it always stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from click.testing import CliRunner

from pgsched.cli import cli
from pgsched.demo.catalog import JOB_NAMES
from tests.acceptance.conftest import REPOSITORY, scalar, wait_for


def demo_command(database_url: str, seconds: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pgsched",
        "demo",
        "--seconds",
        str(seconds),
        "--database-url",
        database_url,
    ]


def demo_environment(tmp_path: Path) -> dict[str, str]:
    """The demo keeps its worker logs under TMPDIR: the test's own directory."""
    return {**os.environ, "TMPDIR": str(tmp_path)}


def assert_stopped_cleanly(db: psycopg.Connection[Any]) -> None:
    """Both workers recorded their stop, nothing runs, the demo jobs are disabled."""
    workers = db.execute("SELECT stopped_at IS NOT NULL FROM pgsched.workers").fetchall()
    assert workers == [(True,), (True,)]
    assert scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'running'") == 0
    enabled = db.execute("SELECT name, enabled FROM pgsched.jobs ORDER BY name").fetchall()
    assert enabled == [(name, False) for name in sorted(JOB_NAMES)]


def test_demo_migrates_runs_every_kind_and_stops_cleanly(
    empty_database_url: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        demo_command(empty_database_url, 12),
        cwd=REPOSITORY,
        env=demo_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Runs of this demo:" in result.stdout
    assert "2 of 2 workers exited cleanly" in result.stdout
    log_dir = Path(result.stdout.rsplit("Worker logs: ", 1)[1].split()[0])
    assert log_dir.parent == tmp_path
    assert sorted(path.name for path in log_dir.iterdir()) == [
        "pgsched-demo-1.log",
        "pgsched-demo-2.log",
    ]

    with psycopg.connect(empty_database_url, autocommit=True) as db:
        succeeded_kinds = db.execute(
            "SELECT DISTINCT j.kind FROM pgsched.runs AS r JOIN pgsched.jobs AS j "
            "ON j.id = r.job_id WHERE r.status = 'succeeded' ORDER BY j.kind"
        ).fetchall()
        assert succeeded_kinds == [("http",), ("python",), ("shell",), ("sql",)]
        # The flaky job's first attempt failed, and its slot was retried.
        retried = db.execute(
            "SELECT first.id, retry.status FROM pgsched.runs AS first "
            "JOIN pgsched.runs AS retry ON retry.job_id = first.job_id "
            " AND retry.scheduled_for = first.scheduled_for AND retry.attempt = 2 "
            "WHERE first.job_name = 'demo-flaky' AND first.attempt = 1 "
            "  AND first.status = 'failed' AND retry.trigger = 'retry'"
        ).fetchall()
        assert retried, "the flaky job's failed first attempt was not retried"
        timed_out = "SELECT count(*) FROM pgsched.runs WHERE job_name = 'demo-slow' AND status = %s"
        assert scalar(db, timed_out, ("timed_out",)) >= 1
        assert scalar(db, timed_out, ("succeeded",)) == 0
        assert_stopped_cleanly(db)

    removed = CliRunner().invoke(cli, ["demo", "--cleanup", "--database-url", empty_database_url])
    assert removed.exit_code == 0, removed.output
    assert removed.output.startswith("removed 6 demo jobs")
    with psycopg.connect(empty_database_url, autocommit=True) as db:
        assert scalar(db, "SELECT count(*) FROM pgsched.jobs") == 0
        assert scalar(db, "SELECT count(*) FROM pgsched.runs") == 0
        assert scalar(db, "SELECT count(*) FROM pgsched.workers") == 0


def test_sigint_stops_the_demo_cleanly(database_url: str, tmp_path: Path) -> None:
    demo = subprocess.Popen(
        demo_command(database_url, 120),
        cwd=REPOSITORY,
        env=demo_environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with psycopg.connect(database_url, autocommit=True) as db:
            wait_for(
                lambda: scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'succeeded'"),
                timeout=30,
                what="a demo run to succeed",
            )
            interrupted_at = time.monotonic()
            demo.send_signal(signal.SIGINT)
            output, _ = demo.communicate(timeout=30)
            assert demo.returncode == 0, output
            # Workers drain within their grace period, far sooner than the 120 s asked for.
            assert time.monotonic() - interrupted_at < 15
            assert "2 of 2 workers exited cleanly" in output
            assert_stopped_cleanly(db)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
