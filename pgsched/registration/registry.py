"""Registering jobs from Python and from files: definitions checked when built,
applied together.

- ``Job`` is one job definition, validated on construction with the messages the
  database would give (and better ones for schedules and targets, which Python
  parses as the workers do).
- ``sync_jobs`` makes ``pgsched.jobs`` hold a list of them, in one transaction,
  and reports what it created, updated, left alone and removed.
- ``load_jobs_file`` reads a ``jobs.toml``; ``@job`` declares a python job beside
  its function, and ``declared_jobs()`` lists those declared.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.types.json import Jsonb

from pgsched.catalog import jobs as catalog_jobs
from pgsched.catalog.sessions import Connection
from pgsched.db import migrations
from pgsched.db.connection import session
from pgsched.db.schema import (
    JOB_DEFAULTS,
    JOB_KINDS,
    MAX_SHARDS,
    MISFIRE_POLICIES,
    OVERLAP_POLICIES,
)
from pgsched.errors import InvalidJob, JobNotFound, JobsFileError, ScheduleError, TimezoneError
from pgsched.executors.targets import target_problem
from pgsched.scheduling.schedule import parse_schedule

F = TypeVar("F", bound=Callable[..., Any])

APPLICATION_NAME = "pgsched-sync"

# The smallest value each count takes; the database checks the same bounds.
COUNT_MINIMUMS = {
    "timeout_seconds": 1,
    "max_attempts": 1,
    "retry_delay_seconds": 0,
    "misfire_threshold_seconds": 0,
}
CHOICES = {"kind": JOB_KINDS, "overlap": OVERLAP_POLICIES, "misfire": MISFIRE_POLICIES}
REQUIRED_TEXT = ("name", "schedule", "timezone", "kind", "target", "overlap", "misfire", "queue")
OPTIONAL_TEXT = ("category", "description")


@dataclass(frozen=True, kw_only=True)
class Job:
    """A job definition: the user-settable columns of ``pgsched.jobs``, with the table's
    defaults (``JOB_DEFAULTS``).

    ``enabled=None`` means "enabled when created, left as it is when updated", so
    a job an operator disabled stays disabled through the next sync. Raises
    ``InvalidJob`` naming the job and every problem found.
    """

    name: str
    schedule: str
    kind: str
    target: str
    timezone: str = JOB_DEFAULTS.timezone
    args: dict[str, Any] = field(default_factory=dict, hash=False)
    enabled: bool | None = None
    timeout_seconds: int = JOB_DEFAULTS.timeout_seconds
    max_attempts: int = JOB_DEFAULTS.max_attempts
    retry_delay_seconds: int = JOB_DEFAULTS.retry_delay_seconds
    overlap: str = JOB_DEFAULTS.overlap
    misfire: str = JOB_DEFAULTS.misfire
    misfire_threshold_seconds: int = JOB_DEFAULTS.misfire_threshold_seconds
    queue: str = JOB_DEFAULTS.queue
    priority: int = JOB_DEFAULTS.priority
    shards: int = JOB_DEFAULTS.shards
    category: str | None = None
    description: str | None = None
    # Seconds an attempt may run before it is flagged as slow; None: never.
    warn_after_seconds: int | None = None

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise InvalidJob(f"job {self.name!r}: {'; '.join(problems)}")

    def parameters(self) -> dict[str, Any]:
        """The definition as query parameters for ``sql/queries/jobs.sql``."""
        values = {name: getattr(self, name) for name in FIELD_NAMES}
        values["args"] = Jsonb(self.args)
        return values

    def changed_fields(self, row: Mapping[str, Any]) -> list[str]:
        """The fields whose value differs from ``row``'s (``enabled`` only when set)."""
        return [
            name
            for name in FIELD_NAMES
            if not (name == "enabled" and self.enabled is None) and getattr(self, name) != row[name]
        ]


FIELD_NAMES = tuple(f.name for f in fields(Job))


def _problems(job: Job) -> Iterator[str]:
    for name in REQUIRED_TEXT:
        value = getattr(job, name)
        if not isinstance(value, str) or not value.strip():
            yield f"{name} must be a non-empty string, not {value!r}"
    for name in OPTIONAL_TEXT:
        value = getattr(job, name)
        if value is not None and not isinstance(value, str):
            yield f"{name} must be a string, not {value!r}"
    for name, least in COUNT_MINIMUMS.items():
        value = getattr(job, name)
        if not _is_int(value) or value < least:
            bound = "positive" if least else "zero or more"
            yield f"{name} must be an integer, {bound}, not {value!r}"
    if job.warn_after_seconds is not None and not (
        _is_int(job.warn_after_seconds) and job.warn_after_seconds > 0
    ):
        yield f"warn_after_seconds must be an integer, positive, not {job.warn_after_seconds!r}"
    if not _is_int(job.priority):
        yield f"priority must be an integer, not {job.priority!r}"
    if not _is_int(job.shards) or not 1 <= job.shards <= MAX_SHARDS:
        yield f"shards must be an integer from 1 to {MAX_SHARDS}, not {job.shards!r}"
    if job.enabled is not None and not isinstance(job.enabled, bool):
        yield f"enabled must be true or false, not {job.enabled!r}"
    for name, choices in CHOICES.items():
        value = getattr(job, name)
        if isinstance(value, str) and value.strip() and value not in choices:
            yield f"{name} {value!r} is not one of {', '.join(choices)}"
    if job.kind in JOB_KINDS and isinstance(job.target, str) and job.target.strip():
        problem = target_problem(job.kind, job.target)
        if problem is not None:
            yield problem
    if not isinstance(job.args, dict):
        yield f"args must be a JSON object (a table or dict), not {job.args!r}"
    else:
        try:
            json.dumps(job.args)
        except (TypeError, ValueError) as exc:
            yield f"args cannot be stored as JSON: {exc}"
    if isinstance(job.schedule, str) and isinstance(job.timezone, str):
        try:
            parse_schedule(job.schedule, job.timezone, str(job.name))
        except ScheduleError as exc:
            yield f"schedule {job.schedule!r}: {str(exc).removeprefix('schedule ')}"
        except TimezoneError as exc:
            yield str(exc)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class SyncReport:
    """What ``sync_jobs`` did (or, with ``dry_run``, would do), by job name."""

    created: tuple[str, ...] = ()
    updated: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        """Whether the table differs (or would differ) from before."""
        return bool(self.created or self.updated or self.removed)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values; ``updated`` maps names to changed fields."""
        return {
            "created": list(self.created),
            "updated": {name: list(names) for name, names in self.updated.items()},
            "unchanged": list(self.unchanged),
            "removed": list(self.removed),
            "dry_run": self.dry_run,
        }


def sync_jobs(
    database: Connection | str,
    jobs: Iterable[Job],
    *,
    prune: bool = False,
    dry_run: bool = False,
) -> SyncReport:
    """Make ``pgsched.jobs`` hold ``jobs``, in one transaction, and report the changes.

    ``database`` is a libpq URL, or a dict-row connection in autocommit mode
    (``pgsched.db.connection.session`` gives one). Jobs whose definition already
    matches are not written, so their ``next_run`` stays; a changed schedule or
    zone makes a worker compute ``next_run`` afresh. ``prune=True`` also deletes
    every job *not* in ``jobs``, including ones added by hand with SQL or
    ``pgsched jobs add``. ``dry_run=True`` does all of it, the database's checks
    included, and rolls back. Concurrent calls are serialised by an advisory lock.
    """
    wanted = _unique_by_name(jobs)
    if isinstance(database, str):
        with session(database, APPLICATION_NAME) as connection:
            migrations.require_current_on(connection)
            return _apply(connection, wanted, prune, dry_run)
    return _apply(database, wanted, prune, dry_run)


def _apply(
    connection: Connection, wanted: dict[str, Job], prune: bool, dry_run: bool
) -> SyncReport:
    created: list[str] = []
    updated: dict[str, tuple[str, ...]] = {}
    unchanged: list[str] = []
    with connection.transaction():
        locked = catalog_jobs.lock_jobs_for_sync(connection, list(wanted), every_job=prune)
        rows = {row["name"]: row for row in locked}
        for name, job in wanted.items():
            row = rows.get(name)
            changes = job.changed_fields(row) if row else []
            if row and not changes:
                unchanged.append(name)
                continue
            catalog_jobs.upsert_job(connection, job.parameters())
            if row:
                updated[name] = tuple(changes)
            else:
                created.append(name)
        removed = sorted(set(rows) - set(wanted)) if prune else []
        if removed:
            catalog_jobs.delete_jobs(connection, removed)
        if dry_run:
            raise psycopg.Rollback()
    return SyncReport(tuple(created), updated, tuple(unchanged), tuple(removed), dry_run)


def _unique_by_name(jobs: Iterable[Job]) -> dict[str, Job]:
    by_name: dict[str, Job] = {}
    for job in jobs:
        if job.name in by_name:
            raise InvalidJob(f"job {job.name!r} is defined twice")
        by_name[job.name] = job
    return by_name


def create_job(connection: Connection, job: Job, *, if_not_exists: bool = False) -> bool:
    """Insert ``job``; False if one of that name exists and ``if_not_exists`` allows it."""
    created = catalog_jobs.insert_job(connection, job.parameters())
    if not created and not if_not_exists:
        raise InvalidJob(
            f"a job named {job.name!r} already exists; change it with `pgsched jobs edit`"
        )
    return created


def change_job(
    connection: Connection, current_name: str, /, **changes: Any
) -> tuple[Job, list[str]]:
    """Change the given fields of job ``current_name`` (``name=`` renames it).

    Returns the new definition and the fields that really changed; nothing is
    written when none did.
    """
    with connection.transaction():
        row = catalog_jobs.lock_job(connection, current_name)
        if row is None:
            raise JobNotFound(f"no job named {current_name!r}")
        # Built once from row and changes: a stored value Python refuses can be fixed.
        stored: dict[str, Any] = {key: value for key, value in row.items() if key in FIELD_NAMES}
        job = Job(**{**stored, **changes})
        changed = job.changed_fields(row)
        if changed:
            catalog_jobs.update_job(connection, row["id"], job.parameters())
    return job, changed


def load_jobs_file(path: str | Path) -> list[Job]:
    """The jobs a TOML file declares, one ``[jobs.NAME]`` table each.

    A ``[defaults]`` table supplies values every job may override. Anything the
    file gets wrong raises ``JobsFileError`` naming the file, the job and the key.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise JobsFileError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise JobsFileError(f"{path}: not valid TOML: {exc}") from exc
    _refuse_unknown(path, "the file", data, {"jobs", "defaults"})
    defaults = data.get("defaults", {})
    tables = data.get("jobs")
    if not isinstance(defaults, dict):
        raise JobsFileError(f"{path}: defaults must be a table ([defaults])")
    if not isinstance(tables, dict) or not tables:
        raise JobsFileError(f"{path}: declares no jobs; add a [jobs.NAME] table for each")
    keys = set(FIELD_NAMES) - {"name"}
    _refuse_unknown(path, "[defaults]", defaults, keys - {"schedule", "kind", "target"})
    jobs = []
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise JobsFileError(f"{path}: jobs.{name} must be a table ([jobs.{name}])")
        _refuse_unknown(path, f"job {name!r}", table, keys)
        missing = [key for key in ("schedule", "kind", "target") if key not in table]
        if missing:
            raise JobsFileError(f"{path}: job {name!r}: missing {', '.join(missing)}")
        try:
            jobs.append(Job(name=name, **{**defaults, **table}))
        except InvalidJob as exc:
            raise JobsFileError(f"{path}: {exc}") from exc
    return jobs


def _refuse_unknown(
    path: str | Path, where: str, table: Mapping[str, Any], known: set[str]
) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise JobsFileError(
            f"{path}: {where}: unknown key {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(sorted(known))})"
        )


_declared: dict[str, Job] = {}


def job(schedule: str, *, name: str | None = None, **options: Any) -> Callable[[F], F]:
    """Declare the decorated function as a python job; ``sync_jobs(declared_jobs())``
    registers it.

    The target is ``module:function``; the name defaults to ``module.function``.
    ``options`` are any other ``Job`` fields (``timezone=``, ``args=``...).

    >>> @job("0 3 * * *", timezone="Europe/Berlin", max_attempts=3)
    ... def nightly_report() -> None: ...
    """

    def declare(function: F) -> F:
        module, qualname = function.__module__, function.__qualname__
        if module == "__main__" or "<" in qualname:
            raise InvalidJob(
                f"{qualname} cannot be a job target: declare jobs at the top level of an "
                "importable module, so a worker can import them"
            )
        definition = Job(
            name=name or f"{module}.{qualname}",
            schedule=schedule,
            kind="python",
            target=f"{module}:{qualname}",
            **options,
        )
        known = _declared.get(definition.name)
        if known is not None and known.target != definition.target:
            raise InvalidJob(f"job {definition.name!r} is declared twice ({known.target})")
        _declared[definition.name] = definition
        return function

    return declare


def declared_jobs() -> list[Job]:
    """The jobs declared with ``@job`` in the modules imported so far."""
    return list(_declared.values())
