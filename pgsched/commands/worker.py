"""``pgsched worker``: parse the flags into ``WorkerOptions`` and run the worker."""

from __future__ import annotations

from collections.abc import Callable

import click

from pgsched.catalog.sessions import Access, database_url
from pgsched.commands.options import database_options, log_options
from pgsched.config import ENV_SQL_DATABASE_URL, Settings
from pgsched.db.pooling import PoolMode, PreparedStatements
from pgsched.engine.options import WorkerOptions

# The flags' defaults are the options' own, so the two cannot disagree.
DEFAULTS = WorkerOptions()


def _allowances(values: tuple[str, ...]) -> None:
    from pgsched.executors.http_address import AddressRules

    AddressRules.allowing(values)


def _secrets(values: tuple[str, ...]) -> None:
    from pgsched.executors.http_request import SecretHosts

    SecretHosts.parse(values)


def _webhooks(values: tuple[str, ...]) -> None:
    from pgsched.executors.http_address import AddressRules
    from pgsched.hooks.webhook import Webhook

    for url in values:
        Webhook(url, AddressRules())


def _read_by(
    parse: Callable[[tuple[str, ...]], None],
) -> Callable[[click.Context, click.Parameter, tuple[str, ...]], tuple[str, ...]]:
    """A click callback that refuses the values ``parse`` cannot read, with its reason
    (the worker reads them again with the same rules when it starts)."""

    def check(
        context: click.Context, parameter: click.Parameter, values: tuple[str, ...]
    ) -> tuple[str, ...]:
        try:
            parse(values)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc
        return values

    return check


@click.command("worker")
@database_options
@click.option(
    "--concurrency",
    "-c",
    default=DEFAULTS.concurrency,
    show_default=True,
    type=click.IntRange(1, 10000),
    help="Attempts this worker runs at once: shell, http and sql ones, and python ones "
    "while they run in a python process. Python attempts waiting for a process do not "
    "count while its processes begin more than this within 50 ms: a worker then keeps "
    "waiting no more than they begin in that time (at most 500), slots claimed ahead of "
    "their instant included should they be due already.",
)
@click.option(
    "--queues",
    "-q",
    default=",".join(DEFAULTS.queues),
    show_default=True,
    help="Comma-separated queues to take jobs from.",
)
@click.option(
    "--poll-interval",
    default=DEFAULTS.poll_interval,
    show_default=True,
    type=click.FloatRange(0.01),
    help="Longest sleep between looks at the database, in seconds.",
)
@click.option(
    "--allow-python",
    multiple=True,
    metavar="PREFIX",
    help="Module prefix python jobs may come from (repeatable; '*' allows any).",
)
@click.option("--allow-shell", is_flag=True, help="Run shell jobs (off by default).")
@click.option(
    "--allow-sql",
    is_flag=True,
    help="Run sql jobs (off by default), on a login that cannot reach superuser nor owns "
    "pgsched's objects: see --sql-database-url.",
)
@click.option(
    "--run-as",
    metavar="USER",
    help="Run python and shell jobs as this OS user (the worker must run as root).",
)
@click.option(
    "--allow-root",
    is_flag=True,
    help="Let a worker running as root run python and shell jobs as root (refused otherwise).",
)
@click.option(
    "--grace-period",
    default=DEFAULTS.grace_seconds,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds running attempts get to finish after SIGTERM.",
)
@click.option("--name", default=DEFAULTS.name, help="Worker name prefix. Default: the host name.")
@click.option(
    "--lease-seconds",
    default=DEFAULTS.lease_seconds,
    show_default=True,
    type=click.IntRange(1),
    help="Silence after which other workers recover this worker's attempts.",
)
@click.option(
    "--python-processes",
    type=click.IntRange(1),
    default=DEFAULTS.python_processes,
    help="Child processes for python jobs (a fixed cap). Default: 2 per CPU, growing up to "
    "--concurrency while slow jobs keep them busy (started lazily).",
)
@click.option(
    "--stop-after",
    type=click.FloatRange(0),
    default=DEFAULTS.stop_after_seconds,
    metavar="SECONDS",
    help="Stop (as on SIGTERM) after this many seconds. Default: run until told.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=DEFAULTS.metrics_port,
    help="Serve Prometheus /metrics and /healthz on this port. Default: none.",
)
@click.option(
    "--metrics-host",
    default=DEFAULTS.metrics_host,
    show_default=True,
    help="Address the metrics port listens on (0.0.0.0: every interface).",
)
@click.option(
    "--metrics-job-label/--no-metrics-job-label",
    default=DEFAULTS.metrics_job_label,
    show_default=True,
    help="Count finished runs per job (one series per job and status).",
)
@click.option(
    "--hide-env",
    multiple=True,
    metavar="PATTERN",
    help="Keep environment variables matching this glob (e.g. 'AWS_*', '*_TOKEN') from "
    "python and shell jobs (repeatable). PGSCHED_* always are; http jobs send only what "
    "--http-secret names.",
)
@click.option(
    "--sql-database-url",
    metavar="URL",
    envvar=ENV_SQL_DATABASE_URL,
    help="Run sql jobs on this connection: a login of their own with only the privileges "
    "jobs need. Default: $PGSCHED_SQL_DATABASE_URL, else the worker's own database URL.",
)
@click.option(
    "--sql-role",
    metavar="ROLE",
    help="SET ROLE to this role before each sql job (keeps jobs within its privileges; "
    "not a boundary: the SQL could RESET ROLE).",
)
@click.option(
    "--sql-allow-superuser",
    is_flag=True,
    help="Let sql jobs run on a login that can reach superuser or owns pgsched's objects "
    "(refused by default): whoever writes jobs then owns the database.",
)
@click.option(
    "--http-allow",
    multiple=True,
    metavar="CIDR|HOST",
    callback=_read_by(_allowances),
    help="Let http jobs reach this loopback or private network, address or host name "
    "(repeatable). Link-local and cloud metadata addresses are always refused.",
)
@click.option(
    "--http-secret",
    multiple=True,
    metavar="NAME=HOST",
    callback=_read_by(_secrets),
    help="Let http jobs send ${env:NAME} in headers to HOST (repeatable; HOST may be a "
    "comma list). Other variables are never sent.",
)
@click.option(
    "--pool-mode",
    type=click.Choice([mode.value for mode in PoolMode]),
    default=DEFAULTS.pool_mode.value,
    show_default=True,
    envvar="PGSCHED_POOL_MODE",
    help="How --database-url reaches PostgreSQL: direct, or through a pooler pooling "
    "sessions or transactions (PgBouncer, Supavisor, RDS Proxy). auto: a detected pooler "
    "is taken to pool transactions (no prepared statements, session state or LISTEN).",
)
@click.option(
    "--prepared-statements",
    type=click.Choice([setting.value for setting in PreparedStatements]),
    default=DEFAULTS.prepared_statements.value,
    show_default=True,
    envvar="PGSCHED_PREPARED_STATEMENTS",
    help="Prepare the worker's queries. auto: unless through a transaction pooler; on: "
    "the pooler keeps them (PgBouncer >= 1.21 with max_prepared_statements).",
)
@click.option(
    "--listen-database-url",
    metavar="URL",
    envvar="PGSCHED_LISTEN_DATABASE_URL",
    help="A direct connection (not through a transaction pooler) for LISTEN: notifications "
    "wake the worker at once. Without it, behind a transaction pooler, the worker polls.",
)
@click.option(
    "--on-failure",
    multiple=True,
    metavar="MODULE:FUNCTION",
    help="Call this function with a report of each attempt that failed with no retry "
    "left (repeatable), e.g. pgsched.hooks.sentry:report.",
)
@click.option(
    "--on-failure-webhook",
    multiple=True,
    metavar="URL",
    callback=_read_by(_webhooks),
    help="POST a JSON report of each attempt that failed with no retry left to this URL "
    "(repeatable); it obeys --http-allow as http jobs do.",
)
@log_options
def worker_command(
    settings: Settings,
    concurrency: int,
    queues: str,
    poll_interval: float,
    allow_python: tuple[str, ...],
    allow_shell: bool,
    allow_sql: bool,
    run_as: str | None,
    allow_root: bool,
    grace_period: float,
    name: str | None,
    lease_seconds: int,
    python_processes: int | None,
    stop_after: float | None,
    metrics_port: int | None,
    metrics_host: str,
    metrics_job_label: bool,
    hide_env: tuple[str, ...],
    sql_database_url: str | None,
    sql_role: str | None,
    sql_allow_superuser: bool,
    pool_mode: str,
    prepared_statements: str,
    listen_database_url: str | None,
    http_allow: tuple[str, ...],
    http_secret: tuple[str, ...],
    on_failure: tuple[str, ...],
    on_failure_webhook: tuple[str, ...],
) -> None:
    """Run a worker: claim due jobs, execute them, record every attempt.

    Runs until SIGTERM or SIGINT; then stops claiming and gives running attempts
    the grace period to finish (a second signal stops at once).

    \b
    Example:
      pgsched worker --concurrency 20 --queues default,reports --allow-python myapp.
      pgsched worker --allow-sql --sql-database-url postgresql://jobs@db/app \\
          --http-secret API_TOKEN=api.example.com --http-allow 10.0.0.0/8
      pgsched worker --metrics-port 9464 --on-failure pgsched.hooks.sentry:report
      pgsched worker --on-failure-webhook https://alerts.example.com/hooks/pgsched
      pgsched worker --database-url postgresql://app@pgbouncer:6432/app \\
          --listen-database-url postgresql://app@db:5432/app
    """
    from pgsched.engine.process import run_worker

    if on_failure:
        from pgsched.hooks import HookNotFound, load_hook

        # Fail at start-up, not at the first failure, when a hook cannot be imported.
        for target in on_failure:
            try:
                load_hook(target)
            except HookNotFound as exc:
                raise click.BadParameter(str(exc), param_hint="--on-failure") from exc

    if sql_role and pool_mode == PoolMode.TRANSACTION and not sql_database_url:
        raise click.BadParameter(
            "sql jobs would SET ROLE on connections a transaction pooler shares: give "
            "--sql-database-url a login with only the privileges jobs need instead",
            param_hint="--sql-role",
        )
    queue_names = tuple(part.strip() for part in queues.split(",") if part.strip())
    if not queue_names:
        raise click.BadParameter("name at least one queue", param_hint="--queues")
    options = WorkerOptions(
        concurrency=concurrency,
        queues=queue_names,
        poll_interval=poll_interval,
        allow_python=allow_python,
        allow_shell=allow_shell,
        allow_sql=allow_sql,
        allow_root=allow_root,
        run_as=run_as,
        grace_seconds=grace_period,
        lease_seconds=lease_seconds,
        python_processes=python_processes,
        name=name,
        stop_after_seconds=stop_after,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        metrics_job_label=metrics_job_label,
        failure_hooks=on_failure,
        failure_webhooks=on_failure_webhook,
        hidden_env=hide_env,
        sql_database_url=sql_database_url,
        sql_role=sql_role,
        sql_allow_superuser=sql_allow_superuser,
        pool_mode=PoolMode(pool_mode),
        prepared_statements=PreparedStatements(prepared_statements),
        listen_database_url=listen_database_url,
        http_allow=http_allow,
        http_secrets=http_secret,
    )
    run_worker(database_url(settings, Access.WRITE), options)


COMMANDS: list[click.Command] = [worker_command]
