"""The demo's jobs: every kind, every few seconds, so a short demo shows each outcome."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# A queue of their own: the demo's workers run nothing else, and workers serving
# other queues on the same database never pick up the demo's jobs.
QUEUE = "demo"
# The demo's workers are named WORKER_NAME_PREFIX-1, -2; their ids start so.
WORKER_NAME_PREFIX = "pgsched-demo"
# What the demo's workers allow for python jobs (see pgsched.demo.jobs).
PYTHON_PREFIX = "pgsched.demo."
# The login the demo's SQL job runs on (created by the demo, a member of the
# migrations' pgsched_reader): it may read the views and nothing else.
SQL_LOGIN = "pgsched_demo_sql"
# The slow job sleeps this long, past its timeout, so each of its attempts times out.
SLOW_JOB_SLEEP_SECONDS = 5
SLOW_JOB_TIMEOUT_SECONDS = 2

JOB_NAMES = (
    "demo-hello",
    "demo-flaky",
    "demo-slow",
    "demo-shell",
    "demo-http",
    "demo-sql",
)
"""The names of ``demo_jobs``; whatever the endpoint, so cleanup needs none."""


@dataclass(frozen=True)
class DemoJob:
    """One row the demo upserts into ``pgsched.jobs``."""

    name: str
    kind: str
    schedule: str
    target: str
    description: str
    args: dict[str, Any] = field(default_factory=dict)
    timeout_seconds: int = 10
    max_attempts: int = 1
    retry_delay_seconds: int = 1

    def parameters(self) -> dict[str, Any]:
        """The row as ``pgsched.catalog.demo.upsert_jobs`` takes it, in the demo's queue."""
        return {**asdict(self), "queue": QUEUE}


def demo_jobs(endpoint_url: str) -> tuple[DemoJob, ...]:
    """The demo's jobs, the http one calling ``endpoint_url``."""
    return (
        DemoJob(
            name="demo-hello",
            kind="python",
            schedule="@every 2s",
            target="pgsched.demo.jobs:hello",
            description="a python job that succeeds",
        ),
        DemoJob(
            name="demo-flaky",
            kind="python",
            # Long enough between slots for both retries to run before the next slot
            # would supersede a waiting retry.
            schedule="@every 6s",
            target="pgsched.demo.jobs:flaky",
            description="fails twice, then succeeds on its third attempt (retries with backoff)",
            max_attempts=3,
        ),
        DemoJob(
            name="demo-slow",
            kind="python",
            schedule="@every 4s",
            target="pgsched.demo.jobs:slow",
            args={"seconds": SLOW_JOB_SLEEP_SECONDS},
            description=f"sleeps {SLOW_JOB_SLEEP_SECONDS} s with a "
            f"{SLOW_JOB_TIMEOUT_SECONDS} s timeout: stopped and recorded timed_out",
            timeout_seconds=SLOW_JOB_TIMEOUT_SECONDS,
        ),
        DemoJob(
            name="demo-shell",
            kind="shell",
            schedule="*/3 * * * * *",
            target="date -u '+shell job ran at %H:%M:%S UTC'",
            description="a command line, run without a shell",
        ),
        DemoJob(
            name="demo-http",
            kind="http",
            schedule="@every 2s",
            target=endpoint_url,
            args={"method": "GET", "expect_status": 200},
            description="a GET to the demo's own HTTP endpoint",
        ),
        DemoJob(
            name="demo-sql",
            kind="sql",
            schedule="*/5 * * * * *",
            target="SELECT count(*) AS demo_runs FROM pgsched.recent_runs"
            " WHERE job_name LIKE 'demo-%'",
            description=f"an SQL statement on pgsched's database, on the login {SQL_LOGIN}",
        ),
    )
