"""job_success_rates reads today's totals beside the recent ones, without grouping them.

Revision ID: h13_r7_views
Revises: h13_r6_db
Create Date: 2026-12-03

- ``job_success_rates`` v3: once the day's roll has run, a job's figures are its recent
  row plus its daily row of ``next_day``, read as one FULL JOIN by job name instead of
  v2's grouping of both sets of rows; the success rate is rounded in bigint arithmetic
  rather than by numeric division. The same answers; v2's grouping still runs in the
  minutes after midnight before the roll.
"""

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "h13_r7_views"
down_revision = "h13_r6_db"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The same columns: CREATE OR REPLACE keeps job_health, which reads it, and the grants.
    apply_sql_file(op.get_bind(), "views/job_success_rates.v3.sql")


def downgrade() -> None:
    apply_sql_file(op.get_bind(), "views/job_success_rates.v2.sql")
