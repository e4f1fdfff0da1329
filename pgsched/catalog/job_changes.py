"""Changing jobs from raw definitions the database validates: the HTTP API and the
dashboard's edit form. The database's refusal (the jobs trigger and the table's
checks) is the answer a user sees, naming the column; nothing is checked twice.

Defaults come from ``registry.Job``, the one place that names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any

import psycopg
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from pgsched.db.queries import query
from pgsched.errors import InvalidJob, JobNotFound, PgschedError
from pgsched.registration.registry import FIELD_NAMES, Job

Connection = psycopg.Connection[DictRow]
REQUIRED_FIELDS = ("name", "schedule", "kind", "target")
JOB_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(Job) if f.default is not MISSING and f.name != "enabled"
}


class JobRunning(PgschedError):
    """The job has an attempt running now."""


class IdempotencyKeyReused(PgschedError):
    """The Idempotency-Key was used for another job."""


@dataclass(frozen=True)
class Removal:
    """What removing a job left behind: attempts still running, attempts pending."""

    running_run_ids: tuple[int, ...]
    pending_runs: int


@dataclass(frozen=True)
class ManualRun:
    """A manual run; ``replayed`` when an earlier request with the same key made it."""

    run_id: int
    replayed: bool


def _parameters(definition: Mapping[str, Any]) -> dict[str, Any]:
    values = {name: definition.get(name) for name in FIELD_NAMES}
    values["args"] = Jsonb(values["args"] if values["args"] is not None else {})
    return values


def create_job(connection: Connection, definition: Mapping[str, Any]) -> None:
    """Insert a job: ``definition`` has the required fields; the others default."""
    missing = [name for name in REQUIRED_FIELDS if not definition.get(name)]
    if missing:
        raise InvalidJob(f"a job needs {', '.join(missing)}")
    parameters = _parameters({**JOB_DEFAULTS, **definition})
    if connection.execute(query("insert_job"), parameters).fetchone() is None:
        raise InvalidJob(f"a job named {definition['name']!r} already exists")


def replace_job(connection: Connection, name: str, definition: Mapping[str, Any]) -> list[str]:
    """Make job ``name`` hold ``definition`` (omitted fields take their defaults;
    ``enabled`` omitted stays as it is). Returns the fields that changed."""
    return _update(connection, name, lambda row: {**JOB_DEFAULTS, **definition})


def patch_job(connection: Connection, name: str, changes: Mapping[str, Any]) -> list[str]:
    """Change the given fields of job ``name``; returns the fields that changed."""
    return _update(
        connection, name, lambda row: {**{key: row[key] for key in FIELD_NAMES}, **changes}
    )


def _update(connection: Connection, name: str, build: Any) -> list[str]:
    with connection.transaction():
        row = connection.execute(query("lock_job"), {"name": name}).fetchone()
        if row is None:
            raise JobNotFound(f"no job named {name!r}")
        wanted = build(row)
        changed = [
            key
            for key in FIELD_NAMES
            if key in wanted
            and not (key == "enabled" and wanted[key] is None)
            and wanted[key] != row[key]
        ]
        if changed:
            parameters = _parameters(wanted) | {"id": row["id"]}
            try:
                connection.execute(query("update_job"), parameters)
            except psycopg.errors.UniqueViolation as exc:
                raise InvalidJob(f"a job named {wanted['name']!r} already exists") from exc
    return changed


def remove_job(connection: Connection, name: str, *, force: bool) -> Removal:
    """Delete job ``name``; its runs stay. Refused with ``JobRunning`` while an attempt
    runs, unless ``force`` (the attempt then runs to its end, without retries)."""
    with connection.transaction():
        job = connection.execute(query("lock_job"), {"name": name}).fetchone()
        if job is None:
            raise JobNotFound(f"no job named {name!r}")
        active = connection.execute(query("active_runs_of_job"), {"job_id": job["id"]}).fetchone()
        assert active is not None  # one row of two aggregates, always
        running = tuple(active["running_run_ids"])
        if running and not force:
            raise JobRunning(
                f"job {name!r} is running now (run {', '.join(map(str, running))}); "
                "wait for it, or remove it with force: the attempt runs to its end "
                "and is recorded, without retries"
            )
        connection.execute(query("delete_job"), {"id": job["id"]})
    return Removal(running, int(active["pending_runs"]))


def set_enabled(connection: Connection, name: str, enabled: bool) -> None:
    """Enable or disable job ``name`` (``pgsched.toggle_job``)."""
    row = connection.execute(query("toggle_job"), {"name": name, "enabled": enabled}).fetchone()
    if row is None or not row["found"]:
        raise JobNotFound(f"no job named {name!r}")


def run_now(connection: Connection, name: str) -> int:
    """Queue a manual run of job ``name``; its run id."""
    try:
        row = connection.execute(query("run_now"), {"name": name}).fetchone()
    except psycopg.errors.NoDataFound as exc:
        raise JobNotFound(f"no job named {name!r}") from exc
    assert row is not None
    return int(row["run_id"])


def run_now_once(connection: Connection, name: str, principal: str, key: str) -> ManualRun:
    """``run_now``, at most once per ``key`` of ``principal`` within a day: a repeated
    request gets the first one's run. Concurrent repeats wait for the first to commit."""
    with connection.transaction():
        connection.execute(query("run_request_purge"))
        claimed = connection.execute(
            query("run_request_claim"), {"principal": principal, "key": key, "job": name}
        ).fetchone()
        if claimed is None:
            earlier = connection.execute(
                query("run_request_find"), {"principal": principal, "key": key}
            ).fetchone()
            assert earlier is not None  # the conflicting row is committed and kept a day
            if earlier["job_name"] != name or earlier["run_id"] is None:
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {key!r} was used for job {earlier['job_name']!r}"
                )
            return ManualRun(int(earlier["run_id"]), replayed=True)
        run_id = run_now(connection, name)
        connection.execute(
            query("run_request_record"), {"principal": principal, "key": key, "run_id": run_id}
        )
    return ManualRun(run_id, replayed=False)
