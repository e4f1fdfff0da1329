"""Initial schema: jobs, runs, workers, time zones, and job validation.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Released: never edit. A changed function is a new file under sql/ applied by a
new revision.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "pgsched"
TZ = TIMESTAMP(timezone=True)
SQL_FILES = (
    "functions/cron_field_values.v1.sql",
    "functions/schedule_error.v1.sql",
    "functions/timezone_error.v1.sql",
    "functions/job_args_error.v1.sql",
    "functions/jobs_before_write.v1.sql",
)


def upgrade() -> None:
    op.create_table(
        "time_zones",
        sa.Column("name", sa.Text, primary_key=True),
        schema=SCHEMA,
    )
    op.execute(
        "INSERT INTO pgsched.time_zones (name) SELECT name FROM pg_catalog.pg_timezone_names"
    )

    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("schedule", sa.Text, nullable=False),
        sa.Column("timezone", sa.Text, nullable=False, server_default=sa.text("'UTC'")),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("args", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("timeout_seconds", sa.Integer, nullable=False, server_default=sa.text("300")),
        sa.Column("max_attempts", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("retry_delay_seconds", sa.Integer, nullable=False, server_default=sa.text("5")),
        sa.Column("overlap", sa.Text, nullable=False, server_default=sa.text("'skip'")),
        sa.Column("misfire", sa.Text, nullable=False, server_default=sa.text("'run_once'")),
        sa.Column(
            "misfire_threshold_seconds", sa.Integer, nullable=False, server_default=sa.text("60")
        ),
        sa.Column("queue", sa.Text, nullable=False, server_default=sa.text("'default'")),
        sa.Column("priority", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("category", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("next_run", TZ),
        sa.Column("last_error", sa.Text),
        sa.Column("checkpoint", JSONB),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("modified_by", sa.Text, server_default=sa.text("CURRENT_USER")),
        sa.UniqueConstraint("name", name="jobs_name_key"),
        sa.CheckConstraint("kind IN ('python', 'shell', 'http', 'sql')", name="jobs_kind_check"),
        sa.CheckConstraint(
            "overlap IN ('skip', 'allow', 'queue', 'replace')", name="jobs_overlap_check"
        ),
        sa.CheckConstraint("misfire IN ('run_once', 'skip', 'run_all')", name="jobs_misfire_check"),
        sa.CheckConstraint("timeout_seconds > 0", name="jobs_timeout_seconds_check"),
        sa.CheckConstraint("max_attempts > 0", name="jobs_max_attempts_check"),
        sa.CheckConstraint("retry_delay_seconds >= 0", name="jobs_retry_delay_seconds_check"),
        sa.CheckConstraint(
            "misfire_threshold_seconds >= 0", name="jobs_misfire_threshold_seconds_check"
        ),
        sa.CheckConstraint("jsonb_typeof(args) = 'object'", name="jobs_args_check"),
        sa.CheckConstraint("btrim(target) <> ''", name="jobs_target_check"),
        sa.CheckConstraint("btrim(name) <> ''", name="jobs_name_check"),
        schema=SCHEMA,
    )
    op.create_index(
        "jobs_next_run_idx",
        "jobs",
        ["next_run"],
        schema=SCHEMA,
        postgresql_where=sa.text("enabled"),
    )

    op.create_table(
        "runs",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("job_id", sa.BigInteger, sa.ForeignKey("pgsched.jobs.id", ondelete="SET NULL")),
        sa.Column("job_name", sa.Text, nullable=False),
        sa.Column("scheduled_for", TZ, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'pending'")),
        sa.Column("trigger", sa.Text, nullable=False, server_default=sa.text("'schedule'")),
        sa.Column("worker_id", sa.Text),
        sa.Column("started_at", TZ),
        sa.Column("finished_at", TZ),
        sa.Column("duration_ms", sa.Double),
        sa.Column("error", sa.Text),
        sa.Column("output", sa.Text),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.UniqueConstraint(
            "job_id", "scheduled_for", "attempt", name="runs_job_id_scheduled_for_attempt_key"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'succeeded', 'failed', 'timed_out', 'lost', "
            "'skipped', 'cancelled')",
            name="runs_status_check",
        ),
        sa.CheckConstraint(
            "trigger IN ('schedule', 'manual', 'retry', 'catchup')", name="runs_trigger_check"
        ),
        sa.CheckConstraint("attempt >= 1", name="runs_attempt_check"),
        schema=SCHEMA,
    )
    op.create_index(
        "runs_status_idx",
        "runs",
        ["status"],
        schema=SCHEMA,
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    )

    op.create_table(
        "workers",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("queues", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{default}'")),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("started_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("last_heartbeat_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("stopped_at", TZ),
        schema=SCHEMA,
    )

    bind = op.get_bind()
    for path in SQL_FILES:
        apply_sql_file(bind, path)


def downgrade() -> None:
    op.execute("DROP TRIGGER jobs_before_write ON pgsched.jobs")
    op.execute("DROP FUNCTION pgsched.jobs_before_write()")
    op.execute("DROP FUNCTION pgsched.job_args_error(text, jsonb)")
    op.execute("DROP FUNCTION pgsched.timezone_error(text)")
    op.execute("DROP FUNCTION pgsched.schedule_error(text)")
    op.execute(
        "DROP FUNCTION pgsched.cron_field_values(text, text, integer, integer, text[], integer)"
    )
    op.drop_table("workers", schema=SCHEMA)
    op.drop_table("runs", schema=SCHEMA)
    op.drop_table("jobs", schema=SCHEMA)
    op.drop_table("time_zones", schema=SCHEMA)
