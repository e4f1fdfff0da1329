"""Jobs: list and show them, insert and change definitions, enable, run now, remove,
and read the audit trail of their changes.

Definitions arrive as query parameters (``Job.parameters()`` of
``pgsched.registration.registry``, which validates them first); the database
checks them again, so a definition this module writes is never less checked
than one inserted by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict

import psycopg

from pgsched.catalog.sessions import Connection, execute, fetch_all, fetch_one, fetch_single
from pgsched.errors import InvalidJob, JobNotFound, JobRunning


class JobRow(TypedDict):
    """A row of ``pgsched.jobs``: the definition and what workers keep on it."""

    id: int
    name: str
    schedule: str
    timezone: str
    kind: str
    target: str
    args: dict[str, Any]
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
    warn_after_seconds: int | None
    next_run: datetime | None
    last_error: str | None
    checkpoint: Any
    created_at: datetime
    updated_at: datetime
    modified_by: str | None


class JobListRow(JobRow):
    """A job as ``jobs list`` shows it: with its latest attempt's status (7 days)."""

    last_status: str | None


class JobFacts(JobRow):
    """A job as ``jobs show`` shows it: its latest run, 30-day record and current load."""

    last_run_id: int | None
    last_run_status: str | None
    last_run_scheduled_for: datetime | None
    last_run_finished_at: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    success_rate_30d: Decimal | None
    running_now: int


class JobChange(TypedDict):
    """One change to a job, as the audit trail ``pgsched.job_changes`` holds it."""

    id: int
    changed_at: datetime
    change: str
    job_name: str
    changed_by: str
    actor: str | None
    client_addr: str | None
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None


class _Created(TypedDict):
    id: int


class _Toggled(TypedDict):
    found: bool | None


class _Queued(TypedDict):
    run_id: int


class _ActiveRuns(TypedDict):
    running_run_ids: list[int]
    pending_runs: int


@dataclass(frozen=True)
class RemovedJob:
    """A removed job's attempts that were still going: running ones run to their end and
    are recorded; pending ones are recorded skipped by the workers."""

    name: str
    running_run_ids: tuple[int, ...]
    pending_runs: int


def list_jobs(
    connection: Connection, *, queue: str | None = None, enabled: bool | None = None
) -> list[JobListRow]:
    """Jobs by name, of one queue and of one enabled state when given."""
    return fetch_all(connection, "list_jobs", {"queue": queue, "enabled": enabled}, row=JobListRow)


def job_facts(connection: Connection, name: str) -> JobFacts:
    """Every column of job ``name`` with its latest run and 30-day record."""
    row = fetch_one(connection, "show_job", {"name": name}, row=JobFacts)
    if row is None:
        raise JobNotFound(f"no job named {name!r}")
    return row


def insert_job(connection: Connection, parameters: Mapping[str, Any]) -> bool:
    """Insert a definition; False when a job of that name exists (nothing is written)."""
    return fetch_one(connection, "insert_job", dict(parameters), row=_Created) is not None


def lock_job(connection: Connection, name: str) -> JobRow | None:
    """Job ``name``, locked until the caller's transaction ends (no worker claims it
    meanwhile); None when there is none."""
    return fetch_one(connection, "lock_job", {"name": name}, row=JobRow)


def update_job(connection: Connection, job_id: int, parameters: Mapping[str, Any]) -> None:
    """Write a whole definition over job ``job_id`` (a rename included); a worker plans a
    changed schedule or zone afresh."""
    try:
        execute(connection, "update_job", {**parameters, "id": job_id})
    except psycopg.errors.UniqueViolation as exc:
        raise InvalidJob(f"a job named {parameters['name']!r} already exists") from exc


def upsert_job(connection: Connection, parameters: Mapping[str, Any]) -> None:
    """Insert a definition or write it over the job of that name (its enabled state kept
    unless the definition sets one)."""
    execute(connection, "upsert_job", dict(parameters))


def lock_jobs_for_sync(
    connection: Connection, names: Sequence[str], *, every_job: bool
) -> list[JobRow]:
    """Inside the caller's transaction: wait for any other sync to end, then lock and
    read the jobs called ``names`` (every job, with ``every_job``)."""
    execute(connection, "lock_job_sync")
    return fetch_all(
        connection, "jobs_for_sync", {"every_job": every_job, "names": list(names)}, row=JobRow
    )


def delete_jobs(connection: Connection, names: Sequence[str]) -> int:
    """Delete the jobs called ``names`` (their runs stay, by name); how many went."""
    return execute(connection, "delete_jobs", {"names": list(names)})


def set_enabled(connection: Connection, name: str, enabled: bool) -> None:
    """Enable or disable job ``name`` (``pgsched.toggle_job``)."""
    row = fetch_one(connection, "toggle_job", {"name": name, "enabled": enabled}, row=_Toggled)
    if row is None or not row["found"]:
        raise JobNotFound(f"no job named {name!r}")


def run_now(connection: Connection, name: str) -> int:
    """Queue a manual run of job ``name`` (``pgsched.run_now``); its run id."""
    try:
        return fetch_single(connection, "run_now", {"name": name}, row=_Queued)["run_id"]
    except psycopg.errors.NoDataFound as exc:
        raise JobNotFound(f"no job named {name!r}") from exc


def remove_job(connection: Connection, name: str, *, force: bool = False) -> RemovedJob:
    """Delete job ``name``; its runs stay in ``pgsched.runs`` under its name.

    A job with an attempt running now is refused (``JobRunning``) unless ``force``:
    the attempt then runs to its end and is recorded, without retries.
    """
    with connection.transaction():
        job = lock_job(connection, name)
        if job is None:
            raise JobNotFound(f"no job named {name!r}")
        active = fetch_single(
            connection, "active_runs_of_job", {"job_id": job["id"]}, row=_ActiveRuns
        )
        running = tuple(active["running_run_ids"])
        if running and not force:
            raise JobRunning(
                f"job {name!r} is running now (run {', '.join(map(str, running))}); "
                "wait for it, or remove it with --force: the attempt runs to its end "
                "and is recorded, without retries"
            )
        execute(connection, "delete_job", {"id": job["id"]})
    return RemovedJob(name, running, active["pending_runs"])


def history(connection: Connection, name: str) -> list[JobChange]:
    """Every recorded change to job ``name``, oldest first, including those it had under
    an earlier name; ``JobNotFound`` when none is recorded."""
    changes = fetch_all(connection, "job_history", {"name": name}, row=JobChange)
    if not changes:
        raise JobNotFound(f"no recorded change to a job named {name!r}")
    return changes
