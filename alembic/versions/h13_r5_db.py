"""The claim looks up its jobs' unfinished attempts in one call, not one call per job.

Revision ID: h13_r5_db
Revises: h13_claim_shards
Create Date: 2026-12-02

- ``running_run_ids(bigint[], boolean[])`` (v4): every job a claim locked, with whether
  it is sharded, in one call made after the last lock (one fresh snapshot for the
  claim); it returns a row per job that has running attempts. The claim called
  ``running_run_ids(bigint, boolean)`` once per locked job, about 8 us each under
  load, mostly the plpgsql call and its snapshot. The two-argument function stays for
  workers of the previous version during a rolling upgrade.
"""

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "h13_r5_db"
down_revision = "h13_claim_shards"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file(op.get_bind(), "functions/running_run_ids.v4.sql")


def downgrade() -> None:
    op.execute("DROP FUNCTION pgsched.running_run_ids(bigint[], boolean[])")
