"""Phase 5, the raw SQL ceiling: the worker's writes per batch of 100 runs, in pgbench.

``ceiling.sql`` claims 100 due jobs (lock, insert runs, advance) and finishes 100
runs per transaction, with no Python in between; pgbench's tps x 100 is the
number of runs/s the database itself could record this way on this machine.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from bench.harness.context import BenchContext
from bench.harness.database import connect, register_noop_jobs, scalar
from bench.harness.errors import BenchError
from bench.harness.report import Figure
from bench.harness.server import scratch_database
from pgsched.db.embedded import client_program

PHASE = "raw SQL ceiling"
JOBS = 4000
RUNS_PER_TRANSACTION = 100
CLIENTS = 2
SCRIPT = Path(__file__).with_name("ceiling.sql")
TPS_LINE = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)

SUCCEEDED_RUNS = "SELECT count(*) FROM pgsched.runs WHERE status = 'succeeded'"


def _pgbench(url: str, seconds: int) -> float:
    """pgbench's transactions per second for ``ceiling.sql``."""
    command = [
        client_program("pgbench"),
        "--no-vacuum",
        "--protocol=prepared",
        f"--client={CLIENTS}",
        f"--jobs={CLIENTS}",
        f"--time={seconds}",
        f"--file={SCRIPT}",
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    found = TPS_LINE.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise BenchError(
            f"pgbench exited with code {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return float(found.group(1))


def run(context: BenchContext) -> list[Figure]:
    """Measure the ceiling in runs/s."""
    with scratch_database(context.server_url) as url, connect(url) as connection:
        register_noop_jobs(connection, JOBS, "* * * * * *", overlap="allow")
        tps = _pgbench(url, 5 if context.quick else 10)
        if not scalar(connection, SUCCEEDED_RUNS):
            raise BenchError("pgbench ran, but no run was recorded as succeeded")
    return [
        Figure(
            "ceiling_runs_per_s",
            PHASE,
            f"pgbench, {CLIENTS} clients, {RUNS_PER_TRANSACTION} runs/transaction",
            tps * RUNS_PER_TRANSACTION,
            "runs/s",
        )
    ]
