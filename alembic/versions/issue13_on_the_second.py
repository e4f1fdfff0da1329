"""On the second: honest start times, one retry rule, per-queue due order.

Revision ID: issue13_on_the_second
Revises: 0004
Create Date: 2026-12-02

- ``runs.claimed_at``: when a worker took the attempt. ``started_at`` is now the
  moment the attempt really began, recorded by the worker with its outcome (a
  fire-ahead claim takes a slot before its instant, and a claimed attempt may wait
  for a python process), so lag is ``started_at - scheduled_for`` everywhere.
- ``pgsched.next_attempt_at``: the retry rule, used by the worker's finish,
  ``release_unstarted_runs`` and ``reap_lost_runs`` (v2).
- ``jobs_queue_due_idx`` replaces ``jobs_due_idx``: due order per queue, so a
  worker's claim and its "when is the next slot" look at its own queues' first
  entries only, however many jobs other queues hold or have due.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TIMESTAMP

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "issue13_on_the_second"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "pgsched"
DUE = "coalesce(next_run, '-infinity'::timestamptz)"
SQL_FILES = (
    "functions/next_attempt_at.v1.sql",
    "functions/reap_lost_runs.v2.sql",
    "functions/start_pending_runs.v3.sql",
    "views/running_runs.v2.sql",
    "views/missed_runs.v2.sql",
)


def upgrade() -> None:
    op.add_column("runs", sa.Column("claimed_at", TIMESTAMP(timezone=True)), schema=SCHEMA)
    # Attempts running across the upgrade were stamped started_at at their claim.
    op.execute(f"UPDATE {SCHEMA}.runs SET claimed_at = started_at WHERE status = 'running'")
    op.create_index(
        "jobs_queue_due_idx",
        "jobs",
        ["queue", sa.text(DUE)],
        schema=SCHEMA,
        postgresql_where=sa.text("enabled"),
    )
    op.drop_index("jobs_due_idx", table_name="jobs", schema=SCHEMA)
    bind = op.get_bind()
    for path in SQL_FILES:
        apply_sql_file(bind, path)


def downgrade() -> None:
    bind = op.get_bind()
    op.execute(f"DROP VIEW {SCHEMA}.missed_runs")
    apply_sql_file(bind, "views/missed_runs.v1.sql")
    op.execute(f"DROP VIEW {SCHEMA}.running_runs")
    apply_sql_file(bind, "views/running_runs.v1.sql")
    op.execute(f"GRANT SELECT ON {SCHEMA}.missed_runs, {SCHEMA}.running_runs TO pgsched_reader")
    apply_sql_file(bind, "functions/start_pending_runs.v2.sql")
    apply_sql_file(bind, "functions/reap_lost_runs.v1.sql")
    op.execute(
        f"DROP FUNCTION {SCHEMA}.next_attempt_at(text, integer, integer, integer, boolean, boolean)"
    )
    op.create_index(
        "jobs_due_idx", "jobs", [sa.text(DUE)], schema=SCHEMA, postgresql_where=sa.text("enabled")
    )
    op.drop_index("jobs_queue_due_idx", table_name="jobs", schema=SCHEMA)
    op.execute(f"UPDATE {SCHEMA}.runs SET started_at = claimed_at WHERE status = 'running'")
    op.drop_column("runs", "claimed_at", schema=SCHEMA)
