"""Keeping pgsched in shape: old rows removed, lost runs reaped, jobs read for checking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from pgsched.catalog.sessions import Connection, fetch_all, fetch_single


@dataclass(frozen=True)
class Cleanup:
    """What ``cleanup`` removed."""

    removed_runs: int
    removed_workers: int


class LostRun(TypedDict):
    """An attempt of a dead worker, recorded ``lost``; ``retry_run_id`` is its retry, if
    the job had attempts left; ``breaker_transition`` "open" if this final failure
    opened the job's circuit breaker."""

    run_id: int
    job_name: str
    worker_id: str | None
    retry_run_id: int | None
    breaker_transition: str | None


@dataclass(frozen=True)
class Reaped:
    """What ``reap`` recovered."""

    lost_runs: list[LostRun]
    orphan_runs_retired: int

    @property
    def retries_queued(self) -> int:
        """Lost attempts that got a retry."""
        return sum(1 for run in self.lost_runs if run["retry_run_id"] is not None)


class JobToValidate(TypedDict):
    """A job as ``validate`` checks it; ``args_error`` is the database's own verdict on
    its args (``pgsched.job_args_error``), so validate and the trigger agree."""

    name: str
    enabled: bool
    schedule: str
    timezone: str
    kind: str
    target: str
    args: dict[str, Any]
    args_error: str | None
    last_error: str | None


class _Cleaned(TypedDict):
    removed_runs: int
    removed_workers: int


class _Retired(TypedDict):
    retire_orphan_runs: int


def cleanup(connection: Connection, older_than_days: int) -> Cleanup:
    """Delete runs that finished, and workers that stopped, more than ``older_than_days``
    ago (``pgsched.cleanup_runs``, ``pgsched.cleanup_workers``). Pending and running
    attempts are never removed, nor workers that have not stopped."""
    row = fetch_single(
        connection, "maintenance_cleanup", {"older_than_days": older_than_days}, row=_Cleaned
    )
    return Cleanup(row["removed_runs"], row["removed_workers"])


def reap_lost_runs(connection: Connection) -> list[LostRun]:
    """Record every worker silent past its lease stopped and its running attempts
    ``lost``, queueing retries where attempts remain (``pgsched.reap_lost_runs``)."""
    return fetch_all(connection, "maintenance_reap_lost_runs", row=LostRun)


def retire_orphan_runs(connection: Connection) -> int:
    """Record pending attempts of deleted or disabled jobs, which can never start,
    ``skipped``; how many."""
    return fetch_single(connection, "retire_orphan_runs", row=_Retired)["retire_orphan_runs"]


def reap(connection: Connection) -> Reaped:
    """What workers recover every few seconds, now: lost runs, then orphans."""
    lost = reap_lost_runs(connection)
    return Reaped(lost, retire_orphan_runs(connection))


def jobs_to_validate(connection: Connection) -> list[JobToValidate]:
    """Every job, by name, with what ``validate`` checks."""
    return fetch_all(connection, "maintenance_jobs_to_validate", row=JobToValidate)
