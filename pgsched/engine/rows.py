"""Between query rows and models: what the claim and finish queries send and return.

Batches travel as one JSON array of objects (``jsonb_to_recordset`` on the server):
encoding it costs the client a fraction of one array parameter per column.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncCursor
from psycopg.rows import DictRow

from pgsched.db.json_values import undecodable
from pgsched.engine.planner import DueJob, JobPlan
from pgsched.executors.base import ERROR_LIMIT_CHARS, OUTPUT_LIMIT_CHARS, truncate
from pgsched.models import Attempt, ClaimClock, EndedAttempt, RunStatus, Trigger


@dataclass(frozen=True)
class ClaimResult:
    """What one claim transaction started and cancelled, and the jobs it found invalid."""

    attempts: list[Attempt]
    cancelled_run_ids: list[int]
    job_errors: list[tuple[str, str]]
    # Per job, the slots it recorded skipped (each slot of a gap record counted).
    skipped_slots: list[tuple[str, int]] = field(default_factory=list)


def due_job(row: DictRow) -> DueJob:
    """What the planner needs of a claimed job row."""
    return DueJob(
        schedule=row["schedule"],
        timezone=row["timezone"],
        next_run=row["next_run"],
        overlap=row["overlap"],
        misfire=row["misfire"],
        misfire_threshold_seconds=row["misfire_threshold_seconds"],
        running_run_ids=tuple(row["running_run_ids"]),
        queued_runs=row["queued_runs"],
        # Scheduling new jobs reads neither: their first claim when due does.
        unreadable=undecodable(args=row.get("args"), checkpoint=row.get("checkpoint")),
        name=row["name"],
    )


async def read_plans(
    plans: list[tuple[DictRow, JobPlan]],
    clock: ClaimClock,
    cancelled_cursor: AsyncCursor[DictRow] | None,
    inserted_cursor: AsyncCursor[DictRow],
) -> ClaimResult:
    """The claim's outcome, from the answers of its committed writes."""
    inserted = await inserted_cursor.fetchall()
    cancelled: list[int] = []
    if cancelled_cursor is not None:
        cancelled = [
            run_id for row in await cancelled_cursor.fetchall() for run_id in row["run_ids"]
        ]
    jobs_by_id = {job["id"]: job for job, _ in plans}
    attempts = [
        attempt_from(
            jobs_by_id[row["job_id"]],
            run_id=row["id"],
            fence=row["fence"],
            scheduled_for=row["scheduled_for"],
            attempt=1,
            trigger=row["trigger"],
            clock=clock,
            shard=row["shard"],
        )
        for row in inserted
        if row["status"] == RunStatus.RUNNING
    ]
    errors = [(job["name"], p.last_error) for job, p in plans if p.last_error]
    skipped = [
        (job["name"], run.missed_slots or 1)
        for job, p in plans
        for run in p.runs
        if run.status is RunStatus.SKIPPED
    ]
    return ClaimResult(attempts, cancelled, errors, skipped)


def attempt_from(
    job: DictRow,
    run_id: int,
    fence: int,
    scheduled_for: datetime,
    attempt: int,
    trigger: str,
    clock: ClaimClock,
    shard: int = 0,
    checkpoint: Any = None,
) -> Attempt:
    """The ``Attempt`` a worker executes, from a job row and its run's claim.

    Shard 0 resumes from the job's checkpoint, another shard from ``checkpoint`` (its
    own). A row whose args or checkpoint could not be read makes an attempt that fails
    without running (``refusal``).
    """
    if shard:
        job = {**job, "checkpoint": checkpoint}
    unreadable = undecodable(args=job["args"], checkpoint=job["checkpoint"])
    return Attempt(
        run_id=run_id,
        fence=fence,
        job_id=job["id"],
        job_name=job["name"],
        kind=job["kind"],
        target=job["target"],
        args={} if unreadable else job["args"],
        scheduled_for=scheduled_for,
        attempt=attempt,
        max_attempts=job["max_attempts"],
        timeout_seconds=job["timeout_seconds"],
        trigger=Trigger(trigger),
        checkpoint=None if unreadable else job["checkpoint"],
        clock=clock,
        refusal=unreadable and f"this job's row cannot be read: {unreadable}",
        warn_after_seconds=job.get("warn_after_seconds"),
        shard=shard,
        shards=job["shards"],
    )


def advance_params(plans: list[tuple[DictRow, JobPlan]]) -> dict[str, Any]:
    """Parameters of ``advance_jobs``: each planned job's next ``next_run`` and error."""
    return {
        "rows": json_rows(
            {
                "job_id": job["id"],
                "next_run": job_plan.next_run,
                "last_error": db_text(job_plan.last_error, ERROR_LIMIT_CHARS),
            }
            for job, job_plan in plans
        )
    }


def finish_params(ended: Sequence[EndedAttempt]) -> dict[str, Any]:
    """Parameters of ``finish_runs``: how each attempt ended, its error and output cut
    to what a run keeps, whichever executor produced them."""
    return {
        "rows": json_rows(
            {
                "run_id": e.attempt.run_id,
                "fence": e.attempt.fence,
                "status": e.outcome.status.value,
                "error": db_text(e.outcome.error, ERROR_LIMIT_CHARS),
                "output": db_text(e.outcome.output, OUTPUT_LIMIT_CHARS),
                "duration_ms": e.duration_ms,
                "retryable": e.outcome.retryable,
                "started_at": e.started_at,
            }
            for e in ended
        )
    }


def json_rows(rows: Iterable[dict[str, Any]]) -> str:
    """A batch as the JSON array ``jsonb_to_recordset`` reads; instants in ISO 8601."""
    return json.dumps(list(rows), default=_iso)


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} in a batch")


def db_text(value: str | None, limit: int) -> str | None:
    """Text for a run or job column: no NUL characters, no lone surrogates, and at most
    ``limit`` characters, whatever wrote it (the rest is dropped with a note)."""
    if not value:
        return value
    text = value.encode("utf-8", errors="replace").decode("utf-8").replace("\x00", "\\0")
    return truncate(text, limit)
