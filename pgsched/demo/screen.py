"""The demo's live table and final summary, as plain text; no I/O here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pgsched.text import first_line, table

# Redraws in place on a terminal: cursor home, then clear the screen.
CLEAR_SCREEN = "\x1b[H\x1b[2J"
# An error longer than this is cut, so one stack trace does not wrap every row.
MAX_ERROR_CHARS = 60

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Snapshot:
    """What the demo looks like at one moment."""

    elapsed_seconds: float
    total_seconds: float
    workers_alive: int
    workers_started: int
    jobs: Sequence[Row]
    """Rows of ``demo_job_figures``."""
    runs: Sequence[Row]
    """Rows of ``demo_latest_runs``, newest first."""


def render_live(snapshot: Snapshot, width: int) -> str:
    """The full screen for a terminal ``width`` columns wide: status, jobs, latest runs."""
    lines = [
        _status_line(snapshot),
        "",
        *_jobs_table(snapshot.jobs),
        "",
        "Latest runs (newest first)",
        *_runs_table(snapshot.runs),
    ]
    return "\n".join(line[:width] for line in lines)


def render_compact(snapshot: Snapshot) -> str:
    """A few lines for a log that is not a terminal: status and the jobs table."""
    return "\n".join([_status_line(snapshot), *_jobs_table(snapshot.jobs)])


def render_summary(jobs: Sequence[Row]) -> str:
    """Runs of this demo per job and status, with a total line."""
    counts = ("succeeded", "failed", "timed_out", "lost", "skipped", "retries")
    rows = [[job["job_name"], job["kind"], *(str(job[name]) for name in counts)] for job in jobs]
    rows.append(["total", "", *(str(sum(job[name] for job in jobs)) for name in counts)])
    headers = ["JOB", "KIND", *(name.upper().replace("_", " ") for name in counts)]
    return "\n".join(table(headers, rows, right=range(2, len(headers)), rule=False))


def _status_line(snapshot: Snapshot) -> str:
    return (
        f"pgsched demo: {snapshot.elapsed_seconds:.0f} s of {snapshot.total_seconds:.0f} s, "
        f"{snapshot.workers_alive} of {snapshot.workers_started} workers alive (Ctrl-C stops)"
    )


def _jobs_table(jobs: Sequence[Row]) -> list[str]:
    rows = [
        [
            job["job_name"],
            job["kind"],
            job["last_run_status"] or "-",
            _next_run(job),
            str(job["succeeded"]),
            str(job["failed"]),
            str(job["timed_out"]),
            str(job["retries"]),
        ]
        for job in jobs
    ]
    headers = ["JOB", "KIND", "LAST", "NEXT RUN", "SUCCEEDED", "FAILED", "TIMED OUT", "RETRIES"]
    return table(headers, rows, right=range(4, len(headers)), rule=False)


def _runs_table(runs: Sequence[Row]) -> list[str]:
    if not runs:
        return ["(no runs yet: the workers are starting)"]
    rows = [
        [
            run["job_name"],
            run["kind"],
            _clock(run["scheduled_for"]),
            f"{run['attempt']} of {run['max_attempts']}",
            run["status"],
            _duration(run["duration_ms"]),
            run["worker_id"] or "-",
            _error(run["error"]),
        ]
        for run in runs
    ]
    headers = ["JOB", "KIND", "SLOT", "ATTEMPT", "STATUS", "DURATION", "WORKER", "ERROR"]
    return table(headers, rows, rule=False)


def _next_run(job: Row) -> str:
    if not job["enabled"]:
        return "disabled"
    if job["next_run"] is None:
        return "being scheduled"
    seconds = (job["next_run"] - job["database_now"]).total_seconds()
    return f"in {seconds:.0f} s" if seconds >= 0.5 else "due now"


def _clock(instant: datetime) -> str:
    """Wall-clock time on this machine, as the person watching reads it."""
    return f"{instant.astimezone():%H:%M:%S}"


def _duration(milliseconds: float | None) -> str:
    if milliseconds is None:
        return "-"
    if milliseconds < 1000:
        return f"{milliseconds:.0f} ms"
    return f"{milliseconds / 1000:.1f} s"


def _error(error: str | None) -> str:
    """The first line of ``error``: a python job's adds its traceback below."""
    return first_line(error, MAX_ERROR_CHARS)
