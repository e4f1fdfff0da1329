"""The tables of the schema ``pgsched``, described for Alembic.

Migrations under ``alembic/versions`` create these objects; this module is the
current shape they produce, and ``tests/integration/test_migrations.py`` checks the
two agree (``runs_schema`` adds the runs table, ``breaker_schema`` the circuit
breaker's part). SQL files: ``sql/``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA, INET, JSONB, TIMESTAMP
from sqlalchemy.sql.elements import TextClause

SCHEMA = "pgsched"

JOB_KINDS = ("python", "shell", "http", "sql")
OVERLAP_POLICIES = ("skip", "allow", "queue", "replace")
MISFIRE_POLICIES = ("run_once", "skip", "run_all")
RUN_STATUSES = (
    "pending",
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "lost",
    "skipped",
    "cancelled",
)
RUN_TRIGGERS = ("schedule", "manual", "retry", "catchup")
TOKEN_ROLES = ("reader", "admin")
JOB_CHANGES = ("insert", "update", "delete", "toggle", "run_now", "retry_run", "reset_breaker")


@dataclass(frozen=True)
class JobDefaults:
    """What a job gets for each column its registration leaves out (args: ``{}``).

    The one source: the jobs table below takes its server defaults from it (and
    ``tests/integration/test_migrations.py`` checks the database has them), the
    Python ``Job`` its field defaults, the CLI its help.
    """

    timezone: str = "UTC"
    enabled: bool = True
    timeout_seconds: int = 300
    max_attempts: int = 1
    retry_delay_seconds: int = 5
    overlap: str = "skip"
    misfire: str = "run_once"
    misfire_threshold_seconds: int = 60
    queue: str = "default"
    priority: int = 0
    shards: int = 1


JOB_DEFAULTS = JobDefaults()
# A job fans each slot out to at most this many shards.
MAX_SHARDS = 1000

metadata = MetaData(schema=SCHEMA)


def one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL for a CHECK that ``column`` holds one of ``values``."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def default(value: str | bool | int) -> TextClause:
    """A column's server default holding ``value``, written as the migrations write it."""
    if isinstance(value, bool):
        return text("true" if value else "false")
    if isinstance(value, int):
        return text(str(value))
    return text("'" + value.replace("'", "''") + "'")


def timestamptz() -> TIMESTAMP:
    """The one timestamp type pgsched stores: an instant, with time zone."""
    return TIMESTAMP(timezone=True)


jobs = Table(
    "jobs",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("name", Text, nullable=False),
    Column("schedule", Text, nullable=False),
    Column("timezone", Text, nullable=False, server_default=default(JOB_DEFAULTS.timezone)),
    Column("kind", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("args", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("enabled", Boolean, nullable=False, server_default=default(JOB_DEFAULTS.enabled)),
    Column(
        "timeout_seconds",
        Integer,
        nullable=False,
        server_default=default(JOB_DEFAULTS.timeout_seconds),
    ),
    Column(
        "max_attempts", Integer, nullable=False, server_default=default(JOB_DEFAULTS.max_attempts)
    ),
    Column(
        "retry_delay_seconds",
        Integer,
        nullable=False,
        server_default=default(JOB_DEFAULTS.retry_delay_seconds),
    ),
    Column("overlap", Text, nullable=False, server_default=default(JOB_DEFAULTS.overlap)),
    Column("misfire", Text, nullable=False, server_default=default(JOB_DEFAULTS.misfire)),
    Column(
        "misfire_threshold_seconds",
        Integer,
        nullable=False,
        server_default=default(JOB_DEFAULTS.misfire_threshold_seconds),
    ),
    Column("queue", Text, nullable=False, server_default=default(JOB_DEFAULTS.queue)),
    Column("priority", Integer, nullable=False, server_default=default(JOB_DEFAULTS.priority)),
    Column("category", Text),
    Column("description", Text),
    Column("next_run", timestamptz()),
    Column("last_error", Text),
    Column("checkpoint", JSONB),
    # An attempt running longer than this is flagged (running_runs.over_warning, the
    # worker's log and metrics); NULL: never.
    Column("warn_after_seconds", Integer),
    Column("created_at", timestamptz(), nullable=False, server_default=text("now()")),
    Column("updated_at", timestamptz(), nullable=False, server_default=text("now()")),
    Column("modified_by", Text, server_default=text("CURRENT_USER")),
    # Each slot has this many first attempts, shard 0..shards-1, run side by side.
    Column("shards", Integer, nullable=False, server_default=default(JOB_DEFAULTS.shards)),
    UniqueConstraint("name", name="jobs_name_key"),
    CheckConstraint(one_of("kind", JOB_KINDS), name="jobs_kind_check"),
    CheckConstraint(one_of("overlap", OVERLAP_POLICIES), name="jobs_overlap_check"),
    CheckConstraint(one_of("misfire", MISFIRE_POLICIES), name="jobs_misfire_check"),
    CheckConstraint("timeout_seconds > 0", name="jobs_timeout_seconds_check"),
    CheckConstraint("max_attempts > 0", name="jobs_max_attempts_check"),
    CheckConstraint("retry_delay_seconds >= 0", name="jobs_retry_delay_seconds_check"),
    CheckConstraint("misfire_threshold_seconds >= 0", name="jobs_misfire_threshold_seconds_check"),
    CheckConstraint("jsonb_typeof(args) = 'object'", name="jobs_args_check"),
    CheckConstraint("warn_after_seconds > 0", name="jobs_warn_after_seconds_check"),
    CheckConstraint("btrim(target) <> ''", name="jobs_target_check"),
    CheckConstraint("btrim(name) <> ''", name="jobs_name_check"),
    CheckConstraint(f"shards BETWEEN 1 AND {MAX_SHARDS}", name="jobs_shards_check"),
)

# Every worker query's order (the claim's, the next due time's, new jobs'): per queue,
# enabled jobs by priority (highest first), then due, NULL (not yet scheduled) first.
Index(
    "jobs_queue_priority_due_idx",
    jobs.c.queue,
    jobs.c.priority.desc(),
    func.coalesce(jobs.c.next_run, literal_column("'-infinity'::timestamp with time zone")),
    postgresql_where=jobs.c.enabled,
)
# Per queue, enabled jobs in due order. No query of this release needs it (the planner
# may still pick it while it exists: the same range, a smaller index). It stays for the
# previous release's workers during a rolling deploy (their next_due_in reads it: a
# sequential scan without it), and the next release's migration drops it, so that an
# advance writes one index entry fewer (docs/how-to/upgrades.md).
Index(
    "jobs_queue_due_idx",
    jobs.c.queue,
    func.coalesce(jobs.c.next_run, literal_column("'-infinity'::timestamp with time zone")),
    postgresql_where=jobs.c.enabled,
)

# The checkpoints of shards 1..N-1 of sharded jobs (shard 0 keeps jobs.checkpoint).
job_shard_checkpoints = Table(
    "job_shard_checkpoints",
    metadata,
    Column("job_id", BigInteger, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("shard", Integer, primary_key=True),
    Column("checkpoint", JSONB, nullable=False),
    CheckConstraint(
        "pgsched.json_value_error(checkpoint, 32, 1048576) IS NULL",
        name="job_shard_checkpoints_checkpoint_check",
    ),
)

workers = Table(
    "workers",
    metadata,
    Column("id", Text, primary_key=True),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("queues", ARRAY(Text), nullable=False, server_default=text("'{default}'")),
    Column("concurrency", Integer, nullable=False),
    Column("started_at", timestamptz(), nullable=False, server_default=text("now()")),
    Column("last_heartbeat_at", timestamptz(), nullable=False, server_default=text("now()")),
    Column("stopped_at", timestamptz()),
    # How long this worker may stay silent before its running attempts count as lost.
    Column("lease_seconds", Integer, nullable=False, server_default=text("30")),
    CheckConstraint("lease_seconds > 0", name="workers_lease_seconds_check"),
)

# A cap on running attempts per queue across the whole cluster; queues without a
# row are limited only by each worker's concurrency.
queue_limits = Table(
    "queue_limits",
    metadata,
    Column("queue", Text, primary_key=True),
    Column("max_running", Integer, nullable=False),
    CheckConstraint("max_running > 0", name="queue_limits_max_running_check"),
)


def run_totals() -> list[Column[object]]:
    """What runs with an outcome add up to: successes (succeeded), failures (failed,
    timed_out, lost), the sum and number of their durations, the latest start."""
    return [
        Column("successful_runs", BigInteger, nullable=False, server_default=text("0")),
        Column("failed_runs", BigInteger, nullable=False, server_default=text("0")),
        Column("duration_ms_sum", Double, nullable=False, server_default=text("0")),
        # Runs with a recorded duration: the divisor of the average.
        Column("timed_runs", BigInteger, nullable=False, server_default=text("0")),
        Column("last_run_at", timestamptz()),
    ]


# The run totals, kept equal to a count of the runs by a trigger on runs
# (sql/functions/runs_count_totals.v1.sql) so that success rates over millions of
# runs read one row per job: per job name and UTC day of the slot, ...
daily_run_totals = Table(
    "daily_run_totals",
    metadata,
    Column("day", Date, primary_key=True),
    Column("job_name", Text, primary_key=True),
    *run_totals(),
)
Index("daily_run_totals_job_name_day_idx", daily_run_totals.c.job_name, daily_run_totals.c.day)

# ... and per job name over the days [first_day, next_day) of recent_run_totals_starts.
recent_run_totals = Table(
    "recent_run_totals",
    metadata,
    Column("job_name", Text, primary_key=True),
    *run_totals(),
)

recent_run_totals_starts = Table(
    "recent_run_totals_starts",
    metadata,
    Column("only_row", Boolean, primary_key=True, server_default=text("true")),
    Column("first_day", Date, nullable=False),
    Column("next_day", Date, nullable=False),
    CheckConstraint("only_row", name="recent_run_totals_starts_only_row_check"),
)

# A copy of pg_timezone_names' names: looking a name up there costs ~30 ms.
time_zones = Table(
    "time_zones",
    metadata,
    Column("name", Text, primary_key=True),
)

# The audit trail: one row per change to a job, appended by the jobs_audit trigger and
# by run_now and retry_run (sql/functions/jobs_audit.v1.sql); nobody may update or delete it.
job_changes = Table(
    "job_changes",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    # No foreign key: the trail outlives the job, as its runs do.
    Column("job_id", BigInteger),
    # The job's name when it changed (its old name, for a deletion).
    Column("job_name", Text, nullable=False),
    Column("change", Text, nullable=False),
    Column("changed_at", timestamptz(), nullable=False, server_default=text("now()")),
    # session_user: the login the change came through.
    Column("changed_by", Text, nullable=False),
    # What the client said it acted for (pgsched.actor): informational only.
    Column("actor", Text),
    Column("client_addr", INET),
    # The changed columns' values before and after (the whole definition for an
    # insert or a deletion; the new run's id for run_now and retry_run).
    Column("old_values", JSONB),
    Column("new_values", JSONB),
    CheckConstraint(one_of("change", JOB_CHANGES), name="job_changes_change_check"),
)
Index("job_changes_job_id_idx", job_changes.c.job_id)
Index("job_changes_job_name_idx", job_changes.c.job_name)

# Tokens of `pgsched web`'s HTTP API and dashboard: only their SHA-256 digest is
# kept. A revoked token's name may be given to a new one.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("token_sha256", BYTEA, nullable=False),
    # The first characters of the token, shown by `pgsched tokens list`.
    Column("prefix", Text, nullable=False),
    Column("created_at", timestamptz(), nullable=False, server_default=text("now()")),
    Column("created_by", Text, nullable=False, server_default=text("SESSION_USER")),
    Column("expires_at", timestamptz()),
    Column("last_used_at", timestamptz()),
    Column("revoked_at", timestamptz()),
    UniqueConstraint("token_sha256", name="api_tokens_token_sha256_key"),
    CheckConstraint(one_of("role", TOKEN_ROLES), name="api_tokens_role_check"),
    CheckConstraint("btrim(name) <> ''", name="api_tokens_name_check"),
)
Index(
    "api_tokens_name_idx",
    api_tokens.c.name,
    unique=True,
    postgresql_where=api_tokens.c.revoked_at.is_(None),
)

# Idempotency-Key headers of manual runs asked for over HTTP, kept for a day: the
# same key from the same principal gets the same run instead of a second one.
run_requests = Table(
    "run_requests",
    metadata,
    Column("principal", Text, primary_key=True),
    Column("idempotency_key", Text, primary_key=True),
    Column("job_name", Text, nullable=False),
    Column("run_id", BigInteger),
    Column("created_at", timestamptz(), nullable=False, server_default=text("now()")),
)
