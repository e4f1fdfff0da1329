"""Less lookup work per claimed job: the claim passes the job's shards to running_run_ids.

Revision ID: h13_claim_shards
Revises: h13_scale
Create Date: 2026-12-02

- ``running_run_ids(bigint, boolean)`` (v3): the claim passes whether the job it has
  locked is sharded, instead of the function reading the job again by key for every
  claimed job. The one-argument function stays for workers of the previous version
  during a rolling upgrade.

The indexes of ``runs`` and ``jobs`` stay as they are: dropping ``jobs_queue_due_idx``
(it duplicates ``jobs_queue_priority_due_idx`` for one priority level) saved about two
buffers per job advance, but ``next_due_in`` and ``claim_unscheduled_jobs`` read through
the priority index level by level took three times as long per call.
"""

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "h13_claim_shards"
down_revision = "h13_scale"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file(op.get_bind(), "functions/running_run_ids.v3.sql")


def downgrade() -> None:
    op.execute("DROP FUNCTION pgsched.running_run_ids(bigint, boolean)")
