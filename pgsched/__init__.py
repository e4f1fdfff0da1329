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

from pgsched.errors import Permanent, PgschedError, ScheduleError, TimezoneError
from pgsched.schedule import Schedule, parse_schedule

__all__ = [
    "Permanent",
    "PgschedError",
    "Schedule",
    "ScheduleError",
    "TimezoneError",
    "parse_schedule",
]
