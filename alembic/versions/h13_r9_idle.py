"""worker_demand reads the due jobs of each queue only, and counts each part up to 100,000.

Revision ID: h13_r9_idle
Revises: h13_r7_views
Create Date: 2026-12-03

- ``worker_demand`` v2: v1 read the due jobs through a bitmap scan of every enabled
  job's index entry (its queue test bounded no index): 800 buffers at a million jobs,
  none due. v2 reads each queue's priority levels as the claim does, then each level's
  due entries only (the queues of NULL by a skip scan), looks each due job's running
  attempt up by its key, and stops each of its three counts at 100,000. The same
  signature and meaning below that; workers do not call it, so a rolling deploy is
  unaffected.
"""

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "h13_r9_idle"
down_revision = "h13_r7_views"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The same signature: CREATE OR REPLACE keeps its owner and grants.
    apply_sql_file(op.get_bind(), "functions/worker_demand.v2.sql")


def downgrade() -> None:
    apply_sql_file(op.get_bind(), "functions/worker_demand.v1.sql")
