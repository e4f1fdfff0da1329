"""Jobs for planner tests: a ``ClaimedJob`` as ``claim_due_jobs`` would return it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pgsched.db.json_values import UndecodableJson
from pgsched.engine.job_rows import ClaimedJob


def claimed_job(*, unreadable: str | None = None, **overrides: Any) -> ClaimedJob:
    """A claimed every-minute sql job; ``overrides`` replace its columns. ``unreadable``
    makes its args a value Python could not read, saying so."""
    columns: dict[str, Any] = {
        "id": 1,
        "name": "a",
        "schedule": "* * * * *",
        "timezone": "UTC",
        "kind": "sql",
        "target": "SELECT 1",
        "args": {} if unreadable is None else UndecodableJson(unreadable),
        "timeout_seconds": 60,
        "max_attempts": 1,
        "overlap": "skip",
        "misfire": "run_once",
        "misfire_threshold_seconds": 60,
        "queue": "default",
        "priority": 0,
        "next_run": None,
        "checkpoint": None,
        "warn_after_seconds": None,
        "shards": 1,
        "breaker_failures": None,
        "running_run_ids": [],
        "queued_runs": 0,
        "database_now": datetime.now(UTC),
        "breaker_state": None,
        "breaker_open_until": None,
        "breaker_probe_slot": None,
    }
    columns.update(overrides)
    columns["running_run_ids"] = list(columns["running_run_ids"])
    return ClaimedJob(**columns)
