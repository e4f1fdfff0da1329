"""What the planner reads of a job, whatever holds it.

The claim plans each job it locked from the row itself (``job_rows.ClaimedJob``):
copying two dozen columns into an object of the planner's own first cost ~1 us a job.
A job without a ``next_run`` is planned from ``job_rows.UnscheduledJob``. Both are
read-only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol


class Plannable(Protocol):
    """A job as the planner reads it."""

    @property
    def schedule(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def next_run(self) -> datetime | None: ...
    @property
    def overlap(self) -> str: ...
    @property
    def misfire(self) -> str: ...
    @property
    def misfire_threshold_seconds(self) -> int: ...
    # The job's attempts running now, and its slots queued behind them (overlap=queue).
    @property
    def running_run_ids(self) -> Sequence[int]: ...
    @property
    def queued_runs(self) -> int: ...
    # Why the job's row could not be read (``pgsched.db.json_values``), if it could not.
    @property
    def unreadable(self) -> str | None: ...
    # What H in the schedule picks its values from.
    @property
    def name(self) -> str | None: ...
    # The circuit breaker (pgsched.job_breakers): None or "closed" runs every slot.
    @property
    def breaker_state(self) -> str | None: ...
    @property
    def breaker_open_until(self) -> datetime | None: ...
    @property
    def breaker_probe_slot(self) -> datetime | None: ...
