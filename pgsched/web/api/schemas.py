"""The shapes the HTTP API reads and writes; ``/api/v1/openapi.json`` is built from them.

Job defaults come from ``db.schema.JOB_DEFAULTS`` (through ``catalog.definitions``); what a
value may be is the database's to say, so text fields are plain strings here and
a refused value comes back as a 422 naming the column.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pgsched.catalog.definitions import OPTIONAL_DEFAULTS as JOB_DEFAULTS
from pgsched.db.schema import (
    JOB_KINDS,
    MAX_SHARDS,
    MISFIRE_POLICIES,
    OVERLAP_POLICIES,
    RUN_STATUSES,
)


def _choice(values: tuple[str, ...], description: str) -> Any:
    return Field(description=description, json_schema_extra={"enum": list(values)})


def _replica_lag(judged: str) -> Any:
    return Field(
        description=f"Seconds the data read trails its primary (pgsched.replica_lag()): 0 on "
        f"a primary; on a replica, {judged} as of now() minus this lag, so that live "
        "workers are not declared dead for the lag's sake."
    )


class JobChanges(BaseModel):
    """Fields to change (PATCH): only those given change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="A new name (a rename).")
    schedule: str | None = Field(
        None, description="5- or 6-field cron, @hourly.., or @every 30s.", examples=["0 3 * * *"]
    )
    kind: str | None = Field(None, json_schema_extra={"enum": list(JOB_KINDS)})
    target: str | None = None
    timezone: str | None = Field(None, examples=["Europe/Berlin"])
    args: dict[str, Any] | None = None
    enabled: bool | None = None
    timeout_seconds: int | None = None
    max_attempts: int | None = None
    retry_delay_seconds: int | None = None
    overlap: str | None = Field(None, json_schema_extra={"enum": list(OVERLAP_POLICIES)})
    misfire: str | None = Field(None, json_schema_extra={"enum": list(MISFIRE_POLICIES)})
    misfire_threshold_seconds: int | None = None
    queue: str | None = None
    priority: int | None = None
    shards: int | None = None
    category: str | None = None
    description: str | None = None
    warn_after_seconds: int | None = Field(
        None, description="Flag an attempt still running after this many seconds; null: never."
    )


class JobDefinition(BaseModel):
    """A whole job definition (POST, PUT): omitted fields take their defaults, and an
    omitted ``enabled`` means enabled when created, unchanged when replaced."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(examples=["nightly-report"])
    schedule: str = Field(examples=["0 3 * * *"])
    kind: str = _choice(JOB_KINDS, "What target is.")
    target: str = Field(examples=["myapp.reports:nightly"])
    timezone: str = JOB_DEFAULTS["timezone"]
    args: dict[str, Any] = Field(default_factory=dict)
    enabled: bool | None = None
    timeout_seconds: int = JOB_DEFAULTS["timeout_seconds"]
    max_attempts: int = JOB_DEFAULTS["max_attempts"]
    retry_delay_seconds: int = JOB_DEFAULTS["retry_delay_seconds"]
    overlap: str = Field(
        JOB_DEFAULTS["overlap"], json_schema_extra={"enum": list(OVERLAP_POLICIES)}
    )
    misfire: str = Field(
        JOB_DEFAULTS["misfire"], json_schema_extra={"enum": list(MISFIRE_POLICIES)}
    )
    misfire_threshold_seconds: int = JOB_DEFAULTS["misfire_threshold_seconds"]
    queue: str = JOB_DEFAULTS["queue"]
    priority: int = JOB_DEFAULTS["priority"]
    shards: int = Field(
        JOB_DEFAULTS["shards"], description=f"attempts per slot, side by side: 1 to {MAX_SHARDS}"
    )
    category: str | None = JOB_DEFAULTS["category"]
    description: str | None = JOB_DEFAULTS["description"]
    warn_after_seconds: int | None = Field(
        None, description="Flag an attempt still running after this many seconds; null: never."
    )


class Job(BaseModel):
    """A job: its definition, its state, and its health over the last 30 UTC days."""

    name: str
    schedule: str
    schedule_in_words: str
    timezone: str
    kind: str
    target: str
    # A row written past the database's bounds (before them, or with its triggers off)
    # may hold a value Python cannot read: it is shown as a string saying so.
    args: dict[str, Any] | str = Field(
        description="keyword arguments, headers... as the job kind reads them; a string "
        "saying why not when the stored value cannot be read"
    )
    enabled: bool
    timeout_seconds: int
    max_attempts: int
    retry_delay_seconds: int
    overlap: str
    misfire: str
    misfire_threshold_seconds: int
    queue: str
    priority: int
    shards: int
    category: str | None
    description: str | None
    warn_after_seconds: int | None = None
    next_run: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    modified_by: str | None
    last_run_id: int | None
    last_run_scheduled_for: datetime | None
    last_run_status: str | None
    total_runs: int
    success_rate_percentage: float | None
    health: str = Field(json_schema_extra={"enum": ["healthy", "degraded", "failing", "idle"]})
    avg_duration_ms: float | None
    p95_lag_ms: float | None


class JobPage(BaseModel):
    """A page of jobs in name order; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[Job]
    next_cursor: str | None


class RunAccepted(BaseModel):
    """A manual run was queued (or, ``replayed``, had been for this Idempotency-Key)."""

    run_id: int
    job_name: str
    replayed: bool


class RunReplay(BaseModel):
    """The attempt that will run a replayed slot: queued by this request, or (``queued``
    false) one already pending or running."""

    run_id: int = Field(description="The run whose slot is replayed.")
    new_run_id: int = Field(description="The attempt that will run the slot.")
    queued: bool
    job_name: str
    scheduled_for: datetime
    attempt: int
    status: str


class Run(BaseModel):
    """One attempt."""

    id: int
    job_id: int | None
    job_name: str
    scheduled_for: datetime
    attempt: int
    status: str = Field(json_schema_extra={"enum": list(RUN_STATUSES)})
    trigger: str
    queue: str
    worker_id: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    error: str | None


class RunDetail(Run):
    """One attempt with its output."""

    output: str | None
    missed_until: datetime | None
    missed_slots: int | None
    created_at: datetime


class RunPage(BaseModel):
    """Runs newest first; pass ``next_cursor`` as ``cursor`` for older ones."""

    items: list[Run]
    next_cursor: int | None


class JobStats(BaseModel):
    """``pgsched.job_stats``: outcomes over the last ``days`` days of slots."""

    job_name: str
    total_runs: int
    successful_runs: int
    failed_runs: int
    success_rate: float | None
    avg_duration_ms: float | None
    min_duration_ms: float | None
    max_duration_ms: float | None
    p95_duration_ms: float | None
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None


class TimelineBucket(BaseModel):
    """One hour of ``pgsched.job_timeline``."""

    time_bucket: datetime
    executions: int
    successes: int
    failures: int
    avg_duration_ms: float | None


class FireTime(BaseModel):
    """One of the next slots (``pgsched.preview_runs``)."""

    slot: int
    scheduled_for: datetime
    local_time: datetime
    wall_time: datetime
    timezone: str
    dst_note: str | None
    dst_shifted: bool


class Slot(BaseModel):
    """How one slot ended: the latest attempt's status, or missed."""

    scheduled_for: datetime
    status: str
    attempts: int
    trigger: str
    run_id: int | None
    missed_until: datetime | None
    missed_slots: int | None
    error: str | None


class FailedRun(BaseModel):
    """One of the latest failures (``pgsched.failed_runs``)."""

    id: int
    job_name: str
    scheduled_for: datetime
    attempt: int
    status: str
    trigger: str
    queue: str
    worker_id: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    error: str | None


class MissedRun(BaseModel):
    """A slot that did not run, and why (``pgsched.missed_runs``)."""

    job_name: str
    kind: str
    scheduled_for: datetime | None
    missed_until: datetime | None
    missed_slots: int | None
    reason: str | None
    run_id: int | None
    recorded_at: datetime | None
    replica_lag_seconds: float = _replica_lag("overdue jobs and queues no live worker serves are")


class RunningRun(BaseModel):
    """An attempt running now (``pgsched.running_runs``)."""

    id: int
    job_name: str
    scheduled_for: datetime
    attempt: int
    trigger: str
    queue: str
    started_at: datetime | None
    running_duration_seconds: float | None
    timeout_seconds: int | None
    worker_id: str | None
    worker_host: str | None
    worker_alive: bool | None
    replica_lag_seconds: float = _replica_lag("running_duration_seconds and worker_alive are")
    warn_after_seconds: int | None = None
    over_warning: bool = Field(
        False, description="Running longer than its job's warn_after_seconds."
    )


class Worker(BaseModel):
    """A worker and its load."""

    id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    state: str
    running_runs: int
    heartbeat_age_seconds: float
    lease_seconds: int
    last_heartbeat_at: datetime
    started_at: datetime
    stopped_at: datetime | None
    replica_lag_seconds: float = _replica_lag("state and heartbeat_age_seconds are")


class Summary(BaseModel):
    """The overview's figures."""

    jobs: int
    enabled_jobs: int
    invalid_jobs: int
    running_runs: int
    succeeded_24h: int
    failed_24h: int
    success_rate_24h: float | None
    missed_slots_7d: int
    stalled_jobs: int
    live_workers: int
    lag_p50_ms: float | None
    lag_p95_ms: float | None
    lag_p99_ms: float | None
    replica_lag_seconds: float = _replica_lag(
        "running_runs, missed_slots_7d, stalled_jobs and live_workers are"
    )
