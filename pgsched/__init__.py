"""pgsched: a cron scheduler whose jobs and runs live in PostgreSQL.

Vocabulary, used the same way in code, SQL and docs:

- **job**: a definition in ``pgsched.jobs``: what to run (``kind`` and ``target``),
  when (``schedule`` read in ``timezone``) and how (timeout, retries, overlap).
- **slot**: one instant a job's schedule names (``scheduled_for``).
- **run**: one attempt at one slot, a row in ``pgsched.runs``. A slot has exactly
  one first attempt; retries are further attempts of the same slot.
- **worker**: a ``pgsched worker`` process that claims due slots and pending runs
  with ``SELECT ... FOR UPDATE SKIP LOCKED``, executes them and records the outcome.
"""

from typing import TYPE_CHECKING, Any

from pgsched.errors import Permanent, PgschedError, ScheduleError, TimezoneError
from pgsched.scheduling.schedule import Schedule, parse_schedule

if TYPE_CHECKING:
    from pgsched.registration.registry import (
        Job,
        SyncReport,
        declared_jobs,
        job,
        load_jobs_file,
        sync_jobs,
    )

__all__ = [
    "Job",
    "Permanent",
    "PgschedError",
    "Schedule",
    "ScheduleError",
    "SyncReport",
    "TimezoneError",
    "declared_jobs",
    "job",
    "load_jobs_file",
    "parse_schedule",
    "sync_jobs",
]

# Loaded on first use: the registry needs the database driver and migrations, which
# job code importing ``pgsched.Permanent`` in a worker's child process must not pay for.
REGISTRY_NAMES = frozenset(
    {"Job", "SyncReport", "declared_jobs", "job", "load_jobs_file", "sync_jobs"}
)


def __getattr__(name: str) -> Any:
    if name in REGISTRY_NAMES:
        from pgsched.registration import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'pgsched' has no attribute {name!r}")
