"""A worker frozen inside a transaction of its own no longer keeps its attempts.

Revision ID: h13_r5_frozen_worker
Revises: h13_r5_db
Create Date: 2026-12-02

- ``reap_lost_runs`` v4: the running attempts of a worker whose lease has lapsed are
  recorded lost even while its row is locked, as it is for as long as the worker stays
  frozen (SIGSTOP, a paused VM) inside a claim, which locks the row FOR SHARE. v3
  skipped such a worker, and so recovered nothing of it until it resumed.
"""

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "h13_r5_frozen_worker"
down_revision = "h13_r5_db"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file(op.get_bind(), "functions/reap_lost_runs.v4.sql")


def downgrade() -> None:
    apply_sql_file(op.get_bind(), "functions/reap_lost_runs.v3.sql")
