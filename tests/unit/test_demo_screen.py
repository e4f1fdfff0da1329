"""The demo's live table, compact snapshot and summary, rendered from rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pgsched.demo.catalog import JOB_NAMES, demo_jobs
from pgsched.demo.screen import Snapshot, render_compact, render_live, render_summary

NOW = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)


def job(name: str, kind: str, **figures: Any) -> dict[str, Any]:
    counts = {"succeeded": 0, "failed": 0, "timed_out": 0, "lost": 0, "skipped": 0, "retries": 0}
    return {
        "job_name": name,
        "kind": kind,
        "enabled": True,
        "next_run": NOW + timedelta(seconds=3),
        "last_run_status": "succeeded",
        "database_now": NOW,
        **counts,
        **figures,
    }


def run(name: str, kind: str, status: str, **fields: Any) -> dict[str, Any]:
    return {
        "job_name": name,
        "kind": kind,
        "scheduled_for": NOW,
        "attempt": 1,
        "max_attempts": 1,
        "status": status,
        "duration_ms": 12.4,
        "worker_id": "pgsched-demo-1-4242-abcdef",
        "error": None,
        **fields,
    }


SNAPSHOT = Snapshot(
    elapsed_seconds=7.4,
    total_seconds=20,
    workers_alive=2,
    workers_started=2,
    jobs=[
        job("demo-flaky", "python", failed=2, succeeded=1, retries=2),
        job("demo-slow", "python", timed_out=1, last_run_status="timed_out", next_run=None),
        job("demo-sql", "sql", succeeded=12, enabled=False),
    ],
    runs=[
        run(
            "demo-flaky",
            "python",
            "failed",
            attempt=2,
            max_attempts=3,
            error="ConnectionError: attempt 2 failed on purpose\nTraceback (most recent call):",
        ),
        run("demo-slow", "python", "timed_out", duration_ms=2004.5, error="timed out after 2 s"),
        run("demo-hello", "python", "running", duration_ms=None, worker_id=None),
    ],
)


def test_live_screen_shows_status_jobs_and_latest_runs() -> None:
    lines = render_live(SNAPSHOT, width=200).splitlines()
    assert lines[0] == "pgsched demo: 7 s of 20 s, 2 of 2 workers alive (Ctrl-C stops)"
    assert lines[2].split() == [
        "JOB",
        "KIND",
        "LAST",
        "NEXT",
        "RUN",
        "SUCCEEDED",
        "FAILED",
        "TIMED",
        "OUT",
        "RETRIES",
    ]
    assert lines[3].split() == [
        "demo-flaky",
        "python",
        "succeeded",
        "in",
        "3",
        "s",
        "1",
        "2",
        "0",
        "2",
    ]
    assert lines[4].split()[2:6] == ["timed_out", "being", "scheduled", "0"]
    assert lines[5].split()[2:4] == ["succeeded", "disabled"]
    assert lines[7] == "Latest runs (newest first)"
    assert lines[8].split() == [
        "JOB",
        "KIND",
        "SLOT",
        "ATTEMPT",
        "STATUS",
        "DURATION",
        "WORKER",
        "ERROR",
    ]
    flaky, slow, hello = lines[9:12]
    slot = f"{NOW.astimezone():%H:%M:%S}"
    # Only the error's first line: a python job's traceback follows it.
    assert (
        flaky.split()
        == (
            f"demo-flaky python {slot} 2 of 3 failed 12 ms pgsched-demo-1-4242-abcdef "
            "ConnectionError: attempt 2 failed on purpose"
        ).split()
    )
    assert "2.0 s" in slow and slow.endswith("timed out after 2 s")
    assert hello.split()[-3:] == ["running", "-", "-"]


def test_counts_are_aligned_right() -> None:
    header, flaky, slow, sql = render_compact(SNAPSHOT).splitlines()[1:5]
    assert sql.endswith(" 12       0          0        0")
    assert len({len(header), len(flaky), len(slow), len(sql)}) == 1


def test_live_screen_is_cut_to_the_terminal_width() -> None:
    assert max(len(line) for line in render_live(SNAPSHOT, width=50).splitlines()) == 50


def test_live_screen_before_any_run() -> None:
    empty = Snapshot(0, 20, 0, 2, jobs=[], runs=[])
    assert render_live(empty, width=100).splitlines()[-1] == (
        "(no runs yet: the workers are starting)"
    )


def test_compact_snapshot_leaves_out_the_runs() -> None:
    text = render_compact(SNAPSHOT)
    assert "Latest runs" not in text
    assert text.splitlines()[0].startswith("pgsched demo: 7 s of 20 s")
    assert len(text.splitlines()) == 5  # status, header, three jobs


def test_summary_totals_every_status() -> None:
    lines = render_summary(SNAPSHOT.jobs).splitlines()
    assert lines[0].split() == [
        "JOB",
        "KIND",
        "SUCCEEDED",
        "FAILED",
        "TIMED",
        "OUT",
        "LOST",
        "SKIPPED",
        "RETRIES",
    ]
    assert lines[-1].split() == ["total", "13", "2", "1", "0", "0", "2"]


def test_the_catalog_has_every_kind_under_the_names_cleanup_removes() -> None:
    jobs = demo_jobs("http://127.0.0.1:8000/health")
    assert tuple(job.name for job in jobs) == JOB_NAMES
    assert {job.kind for job in jobs} == {"python", "shell", "http", "sql"}
    assert all(name.startswith("demo-") for name in JOB_NAMES)
