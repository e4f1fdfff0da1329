"""The throughput and overload windows open once the workers have claimed every job
once: at 100,000 jobs the first round outlasted the fixed warm-up, and the window
counted each job's first claims."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from bench.harness.context import warm_up

Connection = psycopg.Connection[tuple[Any, ...]]


class ScriptedWorkers:
    """Stands in for the workers: each poll that finds the condition false applies the
    next statement of a script (what the workers would have written meanwhile)."""

    def __init__(self, db: Connection, script: list[str]) -> None:
        self.db = db
        self.script = script
        self.slept: list[tuple[float, int]] = []

    def wait_until(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        while not (value := condition()):
            assert self.script, f"still waiting for {what} with nothing left to happen"
            self.db.execute(self.script.pop(0))
        return value

    def sleep(self, seconds: float) -> None:
        self.slept.append((seconds, len(self.script)))


def test_the_window_waits_for_every_job_to_be_scheduled_then_claimed_once(
    db: Connection,
) -> None:
    db.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target)"
        " SELECT 'job-' || n, '* * * * * *', 'sql', 'SELECT 1' FROM generate_series(1, 2) AS n"
    )
    soon, later = "now() + interval '0.5 s'", "now() + interval '10 s'"
    script = [
        f"UPDATE pgsched.jobs SET next_run = {soon} WHERE name = 'job-1'",
        f"UPDATE pgsched.jobs SET next_run = {soon} WHERE name = 'job-2'",
        # Every job scheduled: job-1 claimed since, job-2 not yet.
        f"UPDATE pgsched.jobs SET next_run = {later} WHERE name = 'job-1'",
        f"UPDATE pgsched.jobs SET next_run = {later} WHERE name = 'job-2'",
    ]
    workers = ScriptedWorkers(db, script)
    warm_up(db, workers, 5.0)  # type: ignore[arg-type]
    # The fixed warm-up comes after the whole script, not before.
    assert workers.slept == [(5.0, 0)]
