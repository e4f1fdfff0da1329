"""Attempts for executor tests: an ``Attempt`` as a claim would hand it over."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pgsched.models import Attempt, Trigger


def make_attempt(
    kind: str, target: str, args: dict[str, Any] | None = None, **fields: Any
) -> Attempt:
    """An attempt of a ``kind`` job at ``target``; ``fields`` override the defaults."""
    values: dict[str, Any] = {
        "run_id": 1,
        "fence": 1,
        "job_id": 1,
        "job_name": f"{kind}-job",
        "kind": kind,
        "target": target,
        "args": args or {},
        "scheduled_for": datetime.now(UTC),
        "attempt": 1,
        "max_attempts": 3,
        "timeout_seconds": 60,
        "trigger": Trigger.SCHEDULE,
        **fields,
    }
    return Attempt(**values)
