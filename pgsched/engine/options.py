"""How one worker runs: the options ``pgsched worker`` fills from its flags."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerOptions:
    """How one worker runs; the CLI fills it from flags."""

    concurrency: int = 10
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
    # Security: environment globs kept from jobs (PGSCHED_* always are), and how sql
    # jobs connect: their own URL (None: the worker's), a role to SET, and whether
    # running them on a session that can reach superuser is acceptable.
    hidden_env: tuple[str, ...] = ()
    sql_database_url: str | None = None
    sql_role: str | None = None
    sql_allow_superuser: bool = False
    # http jobs: networks and hosts beyond the public internet (--http-allow), and which
    # ${env:NAME} may be sent to which hosts (--http-secret NAME=HOST).
    http_allow: tuple[str, ...] = ()
    http_secrets: tuple[str, ...] = ()
