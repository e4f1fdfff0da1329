"""``python -m bench.profile``: work counts per run, for design on a noisy machine.

Runs one load shape against a server you give (it must load ``pg_stat_statements``):

- ``throughput``: ``--jobs`` no-op jobs every second on 2 workers, a ``--seconds`` window;
- ``herd``: ``--jobs`` no-op jobs on one instant on 2 workers, until all have run;
- ``lag``: as ``throughput`` (``--jobs 1000``: the lag phase's shape), and prints where
  the start lag of first attempts comes from: when each slot was claimed, relative to
  its instant, and the lag of slots claimed ahead and of those claimed late.

and prints, per run that succeeded: rows inserted, PostgreSQL buffers and statements
(``pg_stat_statements``, reset when measuring starts; planning time too with
``track_planning``), WAL records and bytes (``pg_stat_wal``), the workers' CPU with their
python processes, the top statements; ``--keep-database`` leaves the shape's database
behind for ``EXPLAIN``; with ``--cprofile FILE``, worker 0 runs under
``cProfile`` and its top functions follow (``--cprofile-clock cpu``: timed by the
process's CPU clock, so time preempted or waiting counts nowhere). ``--repository
PATH`` runs the workers (and the migration) of another checkout, with its own
``.venv``: "before" figures.
"""

from __future__ import annotations

import argparse
import io
import os
import pstats
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg import conninfo

from bench.harness.cpu import command_name, parent_pid, processes_cpu_seconds, tree_cpu_seconds
from bench.harness.database import Connection, connect, database_now, herd_finished, scalar
from bench.harness.workers import REPOSITORY

WORKERS = 2
FINISH_TIMEOUT_SECONDS = 900.0
TOP_STATEMENTS = 16
TOP_FUNCTIONS = 25
LAG_CATCH_UP_SECONDS = 3.0

# pg_stat_wal is the cluster's: the figures are this shape's only on a private server.
WAL = "SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal"
THIS_DATABASE = "dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
STATEMENTS = f"""
SELECT calls, shared_blks_hit + shared_blks_read AS buffers, total_exec_time, toplevel,
       regexp_replace(left(query, 70), '\\s+', ' ', 'g'), total_plan_time
  FROM pg_stat_statements WHERE {THIS_DATABASE}
 ORDER BY total_exec_time DESC
"""
REGISTER = """
INSERT INTO pgsched.jobs (name, schedule, kind, target, next_run)
SELECT 'profile-' || n, %(schedule)s, 'python', %(target)s, %(next_run)s
  FROM generate_series(1, %(count)s) AS n
"""
# Where the start lag of the window's first attempts comes from. claimed_at is the
# claim transaction's now(), one value per claim: it groups the slots of one claim.
LAG_SLOTS = """
CREATE TEMPORARY TABLE lag_slots AS
SELECT r.worker_id, r.claimed_at, r.status,
       extract(epoch FROM r.claimed_at - r.scheduled_for) * 1000 AS claim_ms,
       extract(epoch FROM r.started_at - r.scheduled_for) * 1000 AS lag_ms
  FROM pgsched.runs AS r
 WHERE r.attempt = 1 AND r.trigger = 'schedule'
   AND r.scheduled_for >= %(since)s AND r.scheduled_for < %(until)s
"""
LAG_PERCENTILES = """
SELECT count(*), {percentiles}
  FROM lag_slots WHERE status = 'succeeded' AND {where}
"""
CLAIM_SIZES = """
SELECT count(*), {percentiles}
  FROM (SELECT count(*) AS size FROM lag_slots WHERE {where}
         GROUP BY worker_id, claimed_at) AS claims
"""
SHARES = (0.01, 0.1, 0.5, 0.9, 0.99, 1.0)
# ``python -c`` running the module its arguments name (after "-m") under cProfile timed
# by the process's CPU clock; inline, so that any checkout's workers can run it.
CPU_PROFILED = (
    "import cProfile, runpy, sys, time\n"
    "sys.argv = sys.argv[2:]\n"
    "profiler = cProfile.Profile(time.process_time)\n"
    "profiler.enable()\n"
    "try:\n"
    "    runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
    "finally:\n"
    "    profiler.disable()\n"
    "    profiler.dump_stats({out!r})\n"
)


@dataclass(frozen=True)
class Measured:
    """Runs that succeeded and rows inserted while measuring, and the workers' CPU,
    between two instants of the database clock."""

    succeeded: int
    inserted: int
    cpu_seconds: float
    since: datetime
    until: datetime
    # The server's processes (postmaster tree), when it runs on this machine.
    server_cpu_seconds: float | None = None
    # WAL records, full-page images and bytes written while measuring (pg_stat_wal).
    wal: tuple[int, int, int] = (0, 0, 0)
    # Of cpu_seconds, the worker processes' own (the rest: their python processes).
    worker_cpu_seconds: float = 0.0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--database-url", required=True, help="server with pg_stat_statements")
    parser.add_argument("--shape", choices=("throughput", "herd", "lag"), default="throughput")
    parser.add_argument("--jobs", type=int, default=4000)
    parser.add_argument("--seconds", type=float, default=20.0, help="throughput window")
    parser.add_argument("--repository", type=Path, default=REPOSITORY)
    parser.add_argument("--cprofile", type=Path, help="profile worker 0 into this file")
    parser.add_argument("--cprofile-clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument(
        "--keep-database", action="store_true", help="leave the shape's database for EXPLAIN"
    )
    parser.add_argument("worker_options", nargs="*", help="after --: pgsched worker flags")
    return parser.parse_args()


def _target(repository: Path) -> str:
    harness = repository / "bench" / "harness" / "targets.py"
    return "bench.harness.targets:noop" if harness.exists() else "bench.jobs:noop"


def _start(arguments: argparse.Namespace, url: str) -> list[subprocess.Popen[bytes]]:
    python = str(arguments.repository / ".venv" / "bin" / "python")
    # As root (a container, CI) the workers run the bench's jobs as root, as the bench's do.
    root = ["--allow-root"] if os.geteuid() == 0 else []
    processes = []
    for index in range(WORKERS):
        profiler = ["-m", "cProfile", "-o", str(arguments.cprofile)]
        if arguments.cprofile_clock == "cpu":
            profiler = ["-c", CPU_PROFILED.format(out=str(arguments.cprofile))]
        command = [
            python,
            *(profiler if arguments.cprofile and index == 0 else []),
            *("-m", "pgsched", "worker", "--database-url", url, "--log-level", "warning"),
            *("--allow-python", "bench.", *root, *arguments.worker_options),
        ]
        with _log_path(index).open("wb") as log:
            processes.append(
                subprocess.Popen(
                    command,
                    cwd=arguments.repository,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    start_new_session=True,
                )
            )
    return processes


def _log_path(index: int) -> Path:
    """Where worker ``index`` of this run writes its warnings."""
    return Path(tempfile.gettempdir()) / f"pgsched-profile-{os.getpid()}-worker{index}.log"


def _postmaster(connection: Connection) -> int | None:
    """The server's postmaster pid when the server runs on this machine, else None."""
    backend = int(scalar(connection, "SELECT pg_backend_pid()", {}))
    postmaster = parent_pid(backend)
    if postmaster is None or command_name(postmaster) not in ("postgres", "postmaster"):
        return None
    return postmaster


def _wait_for(
    condition: Callable[[], Any],
    timeout: float,
    what: str,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    """Wait for ``condition``; a worker that exits meanwhile ends the wait with its output,
    since nothing it was to do will happen (a refused flag would otherwise cost the timeout)."""
    deadline = time.monotonic() + timeout
    while not condition():
        for index, process in enumerate(processes):
            if process.poll() is not None:
                output = _log_path(index).read_text(errors="replace")[-2000:]
                raise SystemExit(
                    f"worker {index} exited ({process.returncode}) while waiting for {what}:\n"
                    f"{output}"
                )
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def _report(connection: Connection, measured: Measured) -> None:
    rows = connection.execute(STATEMENTS).fetchall()
    succeeded = measured.succeeded
    buffers = sum(row[1] for row in rows)
    calls = sum(row[0] for row in rows)
    top_time = sum(row[2] for row in rows if row[3])
    top_planning = sum(row[5] for row in rows if row[3])
    print(f"succeeded runs: {succeeded:,}; load average {os.getloadavg()[0]:.1f}")
    print("  (* nested statements, already in their callers' time)")
    print(f"  rows inserted into runs: {measured.inserted / succeeded:.2f}/run")
    # Four places: 0.1 us a run, the size of what one log line costs.
    print(f"  workers + python processes CPU: {1000 * measured.cpu_seconds / succeeded:.4f} ms/run")
    own = 1000 * measured.worker_cpu_seconds / succeeded
    children = 1000 * measured.cpu_seconds / succeeded - own
    print(f"    of which workers {own:.4f}, python processes {children:.4f} ms/run")
    if measured.server_cpu_seconds is not None:
        server_ms = 1000 * measured.server_cpu_seconds / succeeded
        print(f"  PostgreSQL server processes CPU: {server_ms:.3f} ms/run")
    per_run = (buffers / succeeded, calls / succeeded, 1000 * top_time / succeeded)
    template = "  PostgreSQL buffers {:.1f}/run, statements {:.2f}/run, top-level {:.1f} us/run"
    print(template.format(*per_run), f"(+ {1000 * top_planning / succeeded:.1f} planning)")
    # A claim transaction opens with claim_settings(_limited); only one that took slots
    # sends claim_settings_end. Counted here, not by cProfile (which counts resumptions).
    calls_of = {row[4].split()[1]: row[0] for row in rows if row[4].startswith("-- ")}
    claims = calls_of.get("claim_settings", 0) + calls_of.get("claim_settings_limited", 0)
    empty = claims - calls_of.get("claim_settings_end", 0)
    print(f"  claims of due jobs {claims:,} ({empty:,} took none), {claims / succeeded:.4f}/run")
    records, images, written = (value / succeeded for value in measured.wal)
    print(f"  WAL {records:.1f} records, {images:.2f} full-page images, {written:.0f} B per run")
    # Nested statements (pg_stat_statements.track = all: triggers, functions, foreign
    # key checks) are marked: their time is part of the statement that ran them.
    # Planning (pg_stat_statements.track_planning = on, else 0) is not in the time run.
    print("    calls  buffers/run   us/run  plan us/run  statement")
    for count, blocks, spent, toplevel, text, planning in rows[:TOP_STATEMENTS]:
        spent_per_run = f"{1000 * spent / succeeded:>8.1f}{' ' if toplevel else '*'}"
        planned = f"{1000 * planning / succeeded:>11.1f}"
        print(f"  {count:>7} {blocks / succeeded:>12.1f} {spent_per_run} {planned}  {text}")


def _distribution(connection: Connection, query: str, column: str, where: str) -> str:
    percentiles = ", ".join(
        f"percentile_disc({share}) WITHIN GROUP (ORDER BY {column})" for share in SHARES
    )
    row = connection.execute(query.format(percentiles=percentiles, where=where)).fetchone()
    assert row is not None
    count, *values = row
    if not count:
        return "none"
    shown = "  ".join(
        f"p{100 * share:g} {value:8.1f}" for share, value in zip(SHARES, values, strict=True)
    )
    return f"{count:>7,}  {shown}"


def _lag_report(connection: Connection, measured: Measured) -> None:
    """Where the window's start lag comes from: claims relative to their slots' instant
    (negative: claimed ahead), claim sizes, and the lag of slots claimed ahead or late."""
    connection.execute(LAG_SLOTS, {"since": measured.since, "until": measured.until})
    skipped = scalar(connection, "SELECT count(*) FROM lag_slots WHERE status = 'skipped'")
    print(f"succeeded runs: {measured.succeeded:,}; load average {os.getloadavg()[0]:.1f}")
    cpu_ms = 1000 * measured.cpu_seconds / measured.succeeded
    print(f"  workers + python processes CPU: {cpu_ms:.3f} ms/run")
    print(f"  slots recorded skipped: {skipped:,}")
    rows = (
        ("claim - slot, ms (per slot)", LAG_PERCENTILES, "claim_ms", "true"),
        ("start lag, ms (all)", LAG_PERCENTILES, "lag_ms", "true"),
        ("start lag, ms (claimed ahead)", LAG_PERCENTILES, "lag_ms", "claim_ms < 0"),
        ("start lag, ms (claimed late)", LAG_PERCENTILES, "lag_ms", "claim_ms >= 0"),
        ("slots per claim (ahead)", CLAIM_SIZES, "size", "claim_ms < 0"),
        ("slots per claim (late)", CLAIM_SIZES, "size", "claim_ms >= 0"),
    )
    for label, query, column, where in rows:
        print(f"  {label:<31}{_distribution(connection, query, column, where)}")


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
            if arguments.shape == "lag":
                _lag_report(connection, _measure(arguments, url, connection, processes))
            else:
                connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                _report(connection, _measure(arguments, url, connection, processes))
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(60)
        if arguments.keep_database:
            print(f"database kept: {url}")
        else:
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
        _wait_for(lambda: database_now(connection) >= early, 120, "the instant", processes)
    else:
        time.sleep(8.0)  # warm-up: children started, a steady backlog
    if arguments.shape != "lag":  # the lag shape reads no statistics: any server will do
        connection.execute("SELECT pg_stat_statements_reset()")
        connection.execute("SELECT pg_stat_reset_shared('wal')")
    pids = [process.pid for process in processes]
    postmaster = _postmaster(connection)
    server = [postmaster] if postmaster is not None else []
    server_before = tree_cpu_seconds(server)
    cpu_before, started_at = tree_cpu_seconds(pids), database_now(connection)
    own_before = sum(processes_cpu_seconds(pids).values())
    wal_before = connection.execute(WAL).fetchone()
    if herd:
        _wait_for(
            lambda: herd_finished(connection, instant, "default"),
            FINISH_TIMEOUT_SECONDS,
            "the herd",
            processes,
        )
    else:
        time.sleep(arguments.seconds)
    cpu, until = tree_cpu_seconds(pids) - cpu_before, database_now(connection)
    own = sum(processes_cpu_seconds(pids).values()) - own_before
    server_cpu = tree_cpu_seconds(server) - server_before if server else None
    wal_after = connection.execute(WAL).fetchone()
    assert wal_before is not None and wal_after is not None
    wal = (
        int(wal_after[0] - wal_before[0]),
        int(wal_after[1] - wal_before[1]),
        int(wal_after[2] - wal_before[2]),
    )
    if arguments.shape == "lag":
        time.sleep(LAG_CATCH_UP_SECONDS)  # the window's last slots start, their outcomes land
    succeeded = scalar(
        connection,
        "SELECT count(*) FROM pgsched.runs WHERE status = 'succeeded'"
        " AND finished_at >= %(since)s AND finished_at < %(until)s",
        {"since": started_at, "until": until},
    )
    inserted = scalar(
        connection,
        "SELECT count(*) FROM pgsched.runs WHERE created_at >= %(since)s",
        {"since": started_at},
    )
    return Measured(
        max(1, int(succeeded)), int(inserted), cpu, started_at, until, server_cpu, wal, own
    )


if __name__ == "__main__":
    main()
