"""How one worker runs: the options ``pgsched worker`` fills from its flags."""

from __future__ import annotations

from dataclasses import dataclass

from pgsched.db.pooling import PoolMode, PreparedStatements


@dataclass(frozen=True)
class WorkerOptions:
    """How one worker runs; the CLI fills it from flags."""

    concurrency: int = 10
    queues: tuple[str, ...] = ("default",)
    poll_interval: float = 1.0
    allow_python: tuple[str, ...] = ()
    allow_shell: bool = False
    grace_seconds: float = 30.0
    name: str | None = None
    lease_seconds: int = 30
    python_processes: int | None = None
    http_per_host: int = 8
    sql_pool_size: int = 4
    stop_after_seconds: float | None = None
    # Observability: None serves no metrics (and imports nothing for them).
    metrics_port: int | None = None
    metrics_host: str = "0.0.0.0"
    # With 100,000 jobs, a per-job counter is 100,000 series per status.
    metrics_job_label: bool = True
    failure_hooks: tuple[str, ...] = ()
    # Security: environment globs kept from jobs (PGSCHED_* always are), and how sql
    # jobs connect: their own URL (None: the worker's), a role to SET, and whether
    # running them as a superuser is acceptable.
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
