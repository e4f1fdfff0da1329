"""Less index and lookup work per run: one index fewer on jobs, no job re-read per claim.

Revision ID: h13_r4_indexes
Revises: h13_scale
Create Date: 2026-12-02

- ``jobs_queue_due_idx`` is dropped: ``jobs_queue_priority_due_idx`` holds the same
  entries ordered by priority first, and every advance of a job (a non-HOT update:
  ``next_run`` is indexed) inserted an entry into both. ``next_due_in`` and
  ``claim_unscheduled_jobs`` now read the priority index as the claim does, one
  descent per queue and priority. Workers of the previous version still run during a
  rolling upgrade; those two queries of theirs then walk a queue's entries, until
  they are replaced.
- ``running_run_ids(bigint, boolean)`` (v3): the claim passes whether the job it has
  locked is sharded, instead of the function reading the job again per claimed job.
  The one-argument function stays for workers of the previous version.
"""

import sqlalchemy as sa

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "h13_r4_indexes"
down_revision = "h13_scale"
branch_labels = None
depends_on = None

SCHEMA = "pgsched"
DUE = "coalesce(next_run, '-infinity'::timestamptz)"


def upgrade() -> None:
    op.drop_index("jobs_queue_due_idx", table_name="jobs", schema=SCHEMA)
    apply_sql_file(op.get_bind(), "functions/running_run_ids.v3.sql")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SCHEMA}.running_run_ids(bigint, boolean)")
    op.create_index(
        "jobs_queue_due_idx",
        "jobs",
        ["queue", sa.text(DUE)],
        schema=SCHEMA,
        postgresql_where=sa.text("enabled"),
    )
