"""``python -m bench.claim_cpu``: the worker's own CPU per run on its database path.

In this process, without workers or python processes: ``--jobs`` every-second no-op
jobs, then ``--claims`` claims of ``--limit`` jobs through the worker's
``Repository`` (as a worker under backlog claims them), each batch recorded
succeeded, as the finisher would. Prints this process's CPU (``time.process_time``)
per run, of all and of the claims alone, for each of ``--rounds`` rounds. The
figure counts the worker's side only (psycopg, libpq, pgsched's rows and plans),
not the server's, and moves far less with the machine's load than a benchmark's
runs/s, so two checkouts compare on a shared machine: run it with each one's
``.venv`` against the same server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from psycopg import conninfo

from bench.harness.database import NOOP_TARGET, connect
from pgsched.db import migrations
from pgsched.engine.repository import Repository, WorkerIdentity
from pgsched.engine.shared_plans import SharedPlans
from pgsched.models import EndedAttempt, Outcome, RunStatus

WORKER_ID = "bench-claim-cpu"
REGISTER = """
INSERT INTO pgsched.jobs (name, schedule, kind, target, next_run)
SELECT 'claim-cpu-' || n, '* * * * * *', 'python', %(target)s, now()
  FROM generate_series(1, %(count)s) AS n
"""
# Each round starts from an empty runs table with every job due one second ago.
RESET = (
    "DELETE FROM pgsched.runs",
    "UPDATE pgsched.jobs SET next_run = date_trunc('second', now()) - interval '1 second'",
    "VACUUM ANALYZE pgsched.jobs",
)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.claim_cpu", description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--jobs", type=int, default=12000)
    parser.add_argument("--claims", type=int, default=100)
    parser.add_argument("--limit", type=int, default=85)
    parser.add_argument("--rounds", type=int, default=5)
    return parser.parse_args()


async def _measure(url: str, arguments: argparse.Namespace) -> None:
    repository = Repository(url, WORKER_ID)
    await repository.register_worker(WorkerIdentity(WORKER_ID, "bench", 0, ("default",), 100, 30))
    plans = SharedPlans()
    for _ in range(arguments.rounds):
        await asyncio.sleep(1.1)  # a new second: the slots of the last round are taken
        with connect(url) as connection:
            for statement in RESET:
                connection.execute(statement)
        started, claims_cpu, runs = time.process_time(), 0.0, 0
        for _ in range(arguments.claims):
            before = time.process_time()
            claim = await repository.claim_due_jobs(WORKER_ID, ("default",), arguments.limit, plans)
            claims_cpu += time.process_time() - before
            now = time.monotonic()
            ended = [
                EndedAttempt(
                    attempt,
                    Outcome(RunStatus.SUCCEEDED, started_monotonic=now),
                    1.0,
                    attempt.clock.database_time(now) if attempt.clock else None,
                )
                for attempt in claim.attempts
            ]
            if ended:
                await repository.finish_runs(ended)
            runs += len(ended)
        spent = time.process_time() - started
        print(
            f"{runs:,} runs: {1e6 * spent / max(runs, 1):.1f} us CPU per run "
            f"(claims {1e6 * claims_cpu / max(runs, 1):.1f} us)"
        )
    await repository.close()


def main() -> None:
    """Create a scratch database, measure, drop it."""
    arguments = _arguments()
    name = f"pgsched_claim_cpu_{os.getpid()}"
    with connect(arguments.database_url) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = conninfo.make_conninfo(arguments.database_url, dbname=name)
    try:
        migrations.upgrade(url)
        with connect(url) as connection:
            connection.execute(REGISTER, {"target": NOOP_TARGET, "count": arguments.jobs})
        asyncio.run(_measure(url, arguments))
    finally:
        with connect(arguments.database_url) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
