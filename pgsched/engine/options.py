"""How one worker runs: the options ``pgsched worker`` fills from its flags."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pgsched.db.pooling import PoolMode, PreparedStatements

# Python processes per CPU when --python-processes is not given: a no-op or CPU-bound
# job wants one per core; two leave room for jobs that wait on I/O.
PYTHON_PROCESSES_PER_CPU = 2


@dataclass(frozen=True)
class WorkerOptions:
    """How one worker runs; the CLI fills it from flags."""

    # Attempts running at once: shell, http and sql ones, and python ones while they
    # run in a process (about two per CPU, more only while slow jobs hold them).
    # Python attempts waiting for a process do not count while the processes begin
    # more than this within 50 ms: a claim takes no more of them than that
    # (ClaimPacer.room).
    concurrency: int = 100
    queues: tuple[str, ...] = ("default",)
    poll_interval: float = 1.0
    allow_python: tuple[str, ...] = ()
    allow_shell: bool = False
    allow_sql: bool = False
    # A root worker runs python and shell jobs only as run_as, or as root if allow_root.
    allow_root: bool = False
    run_as: str | None = None
    grace_seconds: float = 30.0
    name: str | None = None
    lease_seconds: int = 30
    python_processes: int | None = None
    http_per_host: int = 8
    sql_pool_size: int = 4
    stop_after_seconds: float | None = None
    # Observability: None serves no metrics (and imports nothing for them).
    metrics_port: int | None = None
    # This host only: jobs cannot reach it (http jobs refuse loopback unless allowed).
    metrics_host: str = "127.0.0.1"
    # With 100,000 jobs, a per-job counter is 100,000 series per status.
    metrics_job_label: bool = True
    failure_hooks: tuple[str, ...] = ()
    # URLs each final failure is POSTed to, under the http jobs' address rules.
    failure_webhooks: tuple[str, ...] = ()
    # Security: environment globs kept from jobs (PGSCHED_* always are), and how sql
    # jobs connect: their own URL (None: the worker's), a role to SET, and whether
    # running them on a session that can reach superuser is acceptable.
    hidden_env: tuple[str, ...] = ()
    sql_database_url: str | None = None
    sql_role: str | None = None
    sql_allow_superuser: bool = False
    # Connection poolers: how --database-url reaches PostgreSQL (auto: a detected
    # pooler is taken to pool transactions), whether queries are prepared (auto: not
    # through a transaction pooler), and a direct URL for LISTEN (None: the database
    # URL when it keeps sessions, else no LISTEN at all and the worker polls).
    pool_mode: PoolMode = PoolMode.AUTO
    prepared_statements: PreparedStatements = PreparedStatements.AUTO
    listen_database_url: str | None = None
    # http jobs: networks and hosts beyond the public internet (--http-allow), and which
    # ${env:NAME} may be sent to which hosts (--http-secret NAME=HOST).
    http_allow: tuple[str, ...] = ()
    http_secrets: tuple[str, ...] = ()


def python_processes(options: WorkerOptions) -> int:
    """The python job processes a worker keeps: ``--python-processes``, else two per
    CPU, never more than ``--concurrency`` (a process more would never be used).
    Without the flag the pool grows, up to ``--concurrency``, while attempts wait for a
    process that slow jobs keep busy."""
    if options.python_processes is not None:
        return options.python_processes
    return min(options.concurrency, PYTHON_PROCESSES_PER_CPU * (os.cpu_count() or 1))
