"""Job definitions the database validates, as the HTTP API and the dashboard's edit
form send them; and manual runs made at most once per Idempotency-Key.

Unlike ``registration.registry.Job``, nothing here checks a value in Python: the
database's refusal (the jobs trigger, the table's checks) is the answer a user sees,
naming the column. Defaults are ``db.schema.JOB_DEFAULTS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypedDict

from psycopg.types.json import Jsonb

from pgsched.catalog import jobs
from pgsched.catalog.jobs import JobRow
from pgsched.catalog.sessions import Connection, execute, fetch_one
from pgsched.db.schema import JOB_DEFAULTS
from pgsched.errors import InvalidJob, JobNotFound, PgschedError
from pgsched.registration.registry import FIELD_NAMES

REQUIRED_FIELDS = ("name", "schedule", "kind", "target")
# A definition's optional fields and what they are when left out (enabled: true when
# created, unchanged when replaced).
OPTIONAL_DEFAULTS: dict[str, Any] = {
    **{key: value for key, value in asdict(JOB_DEFAULTS).items() if key != "enabled"},
    "args": {},
    "enabled": None,
    "category": None,
    "description": None,
    "warn_after_seconds": None,
}


class IdempotencyKeyReused(PgschedError):
    """The Idempotency-Key was used for another job."""


@dataclass(frozen=True)
class ManualRun:
    """A manual run; ``replayed`` when an earlier request with the same key made it."""

    run_id: int
    replayed: bool


class _Claimed(TypedDict):
    idempotency_key: str


class _Earlier(TypedDict):
    job_name: str
    run_id: int | None


def _parameters(definition: Mapping[str, Any]) -> dict[str, Any]:
    values = {name: definition.get(name) for name in FIELD_NAMES}
    values["args"] = Jsonb(values["args"] if values["args"] is not None else {})
    return values


def create_job(connection: Connection, definition: Mapping[str, Any]) -> None:
    """Insert a job: ``definition`` has the required fields; the others default."""
    missing = [name for name in REQUIRED_FIELDS if not definition.get(name)]
    if missing:
        raise InvalidJob(f"a job needs {', '.join(missing)}")
    if not jobs.insert_job(connection, _parameters({**OPTIONAL_DEFAULTS, **definition})):
        raise InvalidJob(f"a job named {definition['name']!r} already exists")


def replace_job(connection: Connection, name: str, definition: Mapping[str, Any]) -> list[str]:
    """Make job ``name`` hold ``definition``, omitted fields at their defaults (and
    ``enabled`` as it is). The fields that changed."""
    return _update(connection, name, lambda row: {**OPTIONAL_DEFAULTS, **definition})


def patch_job(connection: Connection, name: str, changes: Mapping[str, Any]) -> list[str]:
    """Change the given fields of job ``name``. The fields that changed."""
    return _update(connection, name, lambda row: {**_definition(row), **changes})


def _definition(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in FIELD_NAMES}


def _update(
    connection: Connection, name: str, build: Callable[[JobRow], Mapping[str, Any]]
) -> list[str]:
    with connection.transaction():
        row = jobs.lock_job(connection, name)
        if row is None:
            raise JobNotFound(f"no job named {name!r}")
        wanted = dict(build(row))
        if wanted.get("enabled") is None:
            wanted["enabled"] = row["enabled"]
        current: Mapping[str, Any] = row
        changed = [key for key in FIELD_NAMES if key in wanted and wanted[key] != current[key]]
        if changed:
            jobs.update_job(connection, row["id"], _parameters(wanted))
    return changed


def run_now_once(connection: Connection, name: str, principal: str, key: str) -> ManualRun:
    """``jobs.run_now``, at most once per ``key`` of ``principal`` within a day: a
    repeated request gets the first one's run. A concurrent repeat waits for the first
    to commit."""
    params = {"principal": principal, "key": key, "job": name}
    with connection.transaction():
        execute(connection, "run_request_purge")
        if fetch_one(connection, "run_request_claim", params, row=_Claimed) is None:
            earlier = fetch_one(connection, "run_request_find", params, row=_Earlier)
            assert earlier is not None  # the conflicting row is committed and kept a day
            if earlier["job_name"] != name or earlier["run_id"] is None:
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {key!r} was used for job {earlier['job_name']!r}"
                )
            return ManualRun(earlier["run_id"], replayed=True)
        run_id = jobs.run_now(connection, name)
        execute(connection, "run_request_record", params | {"run_id": run_id})
    return ManualRun(run_id, replayed=False)
