"""``python -m bench.profile``: work counts per run, for design on a noisy machine.

Runs one load shape against a server you give (it must load ``pg_stat_statements``):

- ``throughput``: ``--jobs`` no-op jobs every second on 2 workers, a ``--seconds`` window;
- ``herd``: ``--jobs`` no-op jobs on one instant on 2 workers, until all have run.

and prints, per run that succeeded: rows inserted, PostgreSQL buffers and statements
(``pg_stat_statements``, reset when measuring starts), the workers' CPU with their
python processes, the top statements; with ``--cprofile FILE``, worker 0 runs under
``cProfile`` and its top functions follow. ``--repository PATH`` runs the workers (and
the migration) of another checkout, with its own ``.venv``: "before" figures.
"""

from __future__ import annotations

import argparse
import io
import os
import pstats
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from psycopg import conninfo

from bench.harness.cpu import command_name, parent_pid, tree_cpu_seconds
from bench.harness.database import Connection, connect, database_now, scalar
from bench.harness.workers import REPOSITORY

WORKERS = 2
FINISH_TIMEOUT_SECONDS = 900.0
TOP_STATEMENTS = 12
TOP_FUNCTIONS = 25

THIS_DATABASE = "dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
STATEMENTS = f"""
SELECT calls, shared_blks_hit + shared_blks_read AS buffers, total_exec_time, toplevel,
       regexp_replace(left(query, 70), '\\s+', ' ', 'g')
  FROM pg_stat_statements WHERE {THIS_DATABASE}
 ORDER BY total_exec_time DESC
"""
REGISTER = """
INSERT INTO pgsched.jobs (name, schedule, kind, target, next_run)
SELECT 'profile-' || n, %(schedule)s, 'python', %(target)s, %(next_run)s
  FROM generate_series(1, %(count)s) AS n
"""


@dataclass(frozen=True)
class Measured:
    """Runs that succeeded and rows inserted while measuring, and the workers' CPU."""

    succeeded: int
    inserted: int
    cpu_seconds: float
    # The server's processes (postmaster tree), when it runs on this machine.
    server_cpu_seconds: float | None = None


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--database-url", required=True, help="server with pg_stat_statements")
    parser.add_argument("--shape", choices=("throughput", "herd"), default="throughput")
    parser.add_argument("--jobs", type=int, default=4000)
    parser.add_argument("--seconds", type=float, default=20.0, help="throughput window")
    parser.add_argument("--repository", type=Path, default=REPOSITORY)
    parser.add_argument("--cprofile", type=Path, help="profile worker 0 into this file")
    parser.add_argument("worker_options", nargs="*", help="after --: pgsched worker flags")
    return parser.parse_args()


def _target(repository: Path) -> str:
    harness = repository / "bench" / "harness" / "targets.py"
    return "bench.harness.targets:noop" if harness.exists() else "bench.jobs:noop"


def _start(arguments: argparse.Namespace, url: str) -> list[subprocess.Popen[bytes]]:
    python = str(arguments.repository / ".venv" / "bin" / "python")
    processes = []
    for index in range(WORKERS):
        profiler = ["-m", "cProfile", "-o", str(arguments.cprofile)]
        command = [
            python,
            *(profiler if arguments.cprofile and index == 0 else []),
            *("-m", "pgsched", "worker", "--database-url", url, "--log-level", "warning"),
            *("--allow-python", "bench.", *arguments.worker_options),
        ]
        processes.append(
            subprocess.Popen(
                command,
                cwd=arguments.repository,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    return processes


def _postmaster(connection: Connection) -> int | None:
    """The server's postmaster pid when the server runs on this machine, else None."""
    backend = int(scalar(connection, "SELECT pg_backend_pid()", {}))
    postmaster = parent_pid(backend)
    if postmaster is None or command_name(postmaster) not in ("postgres", "postmaster"):
        return None
    return postmaster


def _wait_for(condition: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def _report(connection: Connection, measured: Measured) -> None:
    rows = connection.execute(STATEMENTS).fetchall()
    succeeded = measured.succeeded
    buffers = sum(row[1] for row in rows)
    calls = sum(row[0] for row in rows)
    top_time = sum(row[2] for row in rows if row[3])
    print(f"succeeded runs: {succeeded:,}; load average {os.getloadavg()[0]:.1f}")
    print(f"  rows inserted into runs: {measured.inserted / succeeded:.2f}/run")
    print(f"  workers + python processes CPU: {1000 * measured.cpu_seconds / succeeded:.3f} ms/run")
    if measured.server_cpu_seconds is not None:
        server_ms = 1000 * measured.server_cpu_seconds / succeeded
        print(f"  PostgreSQL server processes CPU: {server_ms:.3f} ms/run")
    per_run = (buffers / succeeded, calls / succeeded, 1000 * top_time / succeeded)
    template = "  PostgreSQL buffers {:.1f}/run, statements {:.2f}/run, top-level {:.1f} us/run"
    print(template.format(*per_run))
    print("    calls  buffers/run   us/run  statement")
    for count, blocks, spent, _, text in rows[:TOP_STATEMENTS]:
        print(f"  {count:>7} {blocks / succeeded:>12.1f} {1000 * spent / succeeded:>8.1f}  {text}")


def main() -> None:
    """Run the shape, then print the work counts."""
    arguments = _arguments()
    name = f"pgsched_profile_{os.getpid()}"
    with connect(arguments.database_url) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = conninfo.make_conninfo(arguments.database_url, dbname=name)
    python = arguments.repository / ".venv" / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pgsched", "migrate", "--database-url", url],
        cwd=arguments.repository,
        check=True,
        capture_output=True,
    )
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with connect(url) as connection:
            connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            _report(connection, _measure(arguments, url, connection, processes))
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(60)
        with connect(arguments.database_url) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    if arguments.cprofile:
        out = io.StringIO()
        pstats.Stats(str(arguments.cprofile), stream=out).sort_stats("tottime").print_stats(
            TOP_FUNCTIONS
        )
        print(out.getvalue())


def _measure(
    arguments: argparse.Namespace,
    url: str,
    connection: Connection,
    processes: list[subprocess.Popen[bytes]],
) -> Measured:
    """Run the shape; what happened while measuring."""
    herd = arguments.shape == "herd"
    lead = 15 + 2 * arguments.jobs / 10_000
    instant = scalar(
        connection,
        "SELECT date_trunc('second', now()) + make_interval(secs => %(lead)s)",
        {"lead": lead},
    )
    schedule = instant.strftime("%S %M %H * * *") if herd else "* * * * * *"
    connection.execute(
        REGISTER,
        {
            "schedule": schedule,
            "target": _target(arguments.repository),
            "next_run": instant if herd else None,
            "count": arguments.jobs,
        },
    )
    connection.execute("VACUUM ANALYZE pgsched.jobs")
    processes.extend(_start(arguments, url))
    if herd:
        # Fire-ahead claims up to half a second before the instant: count them too.
        early = instant - timedelta(seconds=1)
        _wait_for(lambda: database_now(connection) >= early, 120, "the instant")
    else:
        time.sleep(8.0)  # warm-up: children started, a steady backlog
    connection.execute("SELECT pg_stat_statements_reset()")
    pids = [process.pid for process in processes]
    postmaster = _postmaster(connection)
    server = [postmaster] if postmaster is not None else []
    server_before = tree_cpu_seconds(server)
    cpu_before, started_at = tree_cpu_seconds(pids), database_now(connection)
    if herd:
        done = (
            "SELECT count(*) FROM pgsched.runs"
            " WHERE status = 'succeeded' AND scheduled_for = %(instant)s"
        )
        _wait_for(
            lambda: scalar(connection, done, {"instant": instant}) >= arguments.jobs,
            FINISH_TIMEOUT_SECONDS,
            "the herd",
        )
    else:
        time.sleep(arguments.seconds)
    cpu = tree_cpu_seconds(pids) - cpu_before
    server_cpu = tree_cpu_seconds(server) - server_before if server else None
    succeeded = scalar(
        connection,
        "SELECT count(*) FROM pgsched.runs WHERE status = 'succeeded' AND finished_at >= %(since)s",
        {"since": started_at},
    )
    inserted = scalar(
        connection,
        "SELECT count(*) FROM pgsched.runs WHERE created_at >= %(since)s",
        {"since": started_at},
    )
    return Measured(max(1, int(succeeded)), int(inserted), cpu, server_cpu)


if __name__ == "__main__":
    main()
