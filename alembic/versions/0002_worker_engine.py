"""Worker engine: claim fencing, pending attempts, gap records, queue limits, recovery.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Released: never edit. A changed function is a new file under sql/ applied by a
new revision.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TIMESTAMP

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "pgsched"
TZ = TIMESTAMP(timezone=True)
SQL_FILES = (
    "functions/retry_delay.v1.sql",
    "functions/reap_lost_runs.v1.sql",
    "functions/retire_orphan_runs.v1.sql",
    "functions/run_now.v1.sql",
    "functions/jobs_notify.v1.sql",
    "functions/running_run_ids.v1.sql",
    "functions/start_pending_runs.v1.sql",
)


def upgrade() -> None:
    op.execute("CREATE SEQUENCE pgsched.run_fence_seq")
    op.add_column("runs", sa.Column("fence", sa.BigInteger), schema=SCHEMA)
    op.add_column("runs", sa.Column("available_at", TZ), schema=SCHEMA)
    op.add_column(
        "runs",
        sa.Column("queue", sa.Text, nullable=False, server_default=sa.text("'default'")),
        schema=SCHEMA,
    )
    op.add_column("runs", sa.Column("missed_until", TZ), schema=SCHEMA)
    op.add_column("runs", sa.Column("missed_slots", sa.Integer), schema=SCHEMA)
    op.create_index(
        "runs_job_id_active_idx",
        "runs",
        ["job_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    )
    op.create_index(
        "runs_available_at_idx",
        "runs",
        ["available_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "runs_worker_id_running_idx",
        "runs",
        ["worker_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'running'"),
    )
    # Every index on runs costs each claim and finish a write: the worker and
    # availability indexes cover what status alone served, and a queue's running
    # count reads the (small) set of running attempts through the worker index.
    op.drop_index("runs_status_idx", table_name="runs", schema=SCHEMA)

    # Due order with "not yet scheduled" (NULL) first, as one indexable expression.
    op.drop_index("jobs_next_run_idx", table_name="jobs", schema=SCHEMA)
    op.create_index(
        "jobs_due_idx",
        "jobs",
        [sa.text("coalesce(next_run, '-infinity'::timestamptz)")],
        schema=SCHEMA,
        postgresql_where=sa.text("enabled"),
    )

    op.add_column(
        "workers",
        sa.Column("lease_seconds", sa.Integer, nullable=False, server_default=sa.text("30")),
        schema=SCHEMA,
    )
    op.create_check_constraint(
        "workers_lease_seconds_check", "workers", "lease_seconds > 0", schema=SCHEMA
    )

    op.create_table(
        "queue_limits",
        sa.Column("queue", sa.Text, primary_key=True),
        sa.Column("max_running", sa.Integer, nullable=False),
        sa.CheckConstraint("max_running > 0", name="queue_limits_max_running_check"),
        schema=SCHEMA,
    )

    bind = op.get_bind()
    for path in SQL_FILES:
        apply_sql_file(bind, path)


def downgrade() -> None:
    op.execute("DROP FUNCTION pgsched.start_pending_runs(text, text[], integer)")
    op.execute("DROP FUNCTION pgsched.running_run_ids(bigint)")
    op.execute("DROP TRIGGER jobs_notify ON pgsched.jobs")
    op.execute("DROP FUNCTION pgsched.jobs_notify()")
    op.execute("DROP FUNCTION pgsched.run_now(text)")
    op.execute("DROP FUNCTION pgsched.retire_orphan_runs()")
    op.execute("DROP FUNCTION pgsched.reap_lost_runs(text)")
    op.execute("DROP FUNCTION pgsched.retry_delay(integer, integer)")
    op.drop_table("queue_limits", schema=SCHEMA)
    op.drop_constraint("workers_lease_seconds_check", "workers", schema=SCHEMA)
    op.drop_column("workers", "lease_seconds", schema=SCHEMA)
    op.drop_index("jobs_due_idx", table_name="jobs", schema=SCHEMA)
    op.create_index(
        "jobs_next_run_idx",
        "jobs",
        ["next_run"],
        schema=SCHEMA,
        postgresql_where=sa.text("enabled"),
    )
    op.create_index(
        "runs_status_idx",
        "runs",
        ["status"],
        schema=SCHEMA,
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    )
    for name in (
        "runs_worker_id_running_idx",
        "runs_available_at_idx",
        "runs_job_id_active_idx",
    ):
        op.drop_index(name, table_name="runs", schema=SCHEMA)
    for column in ("missed_slots", "missed_until", "queue", "available_at", "fence"):
        op.drop_column("runs", column, schema=SCHEMA)
    op.execute("DROP SEQUENCE pgsched.run_fence_seq")
