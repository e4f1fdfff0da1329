"""The run totals trigger's fast path for the worker's batches.

Revision ID: h13_run_totals_fast_path
Revises: h16_slot_stats_slot_figures
Create Date: 2026-12-02

- ``runs_count_totals`` v2: a statement whose old rows counted for nothing (inserts,
  and a worker recording how running attempts ended) adds its new rows to the daily
  and recent totals straight from them; other changes take v1's general path.
"""

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "h13_run_totals_fast_path"
down_revision = "h16_slot_stats_slot_figures"
branch_labels = None
depends_on = None

SCHEMA = "pgsched"
TRIGGERS = ("insert", "update", "delete", "truncate")


def upgrade() -> None:
    # The same signature: CREATE OR REPLACE keeps the triggers that call it.
    apply_sql_file(op.get_bind(), "functions/runs_count_totals.v2.sql")


def downgrade() -> None:
    # v1's file creates the triggers along with the function.
    for suffix in TRIGGERS:
        op.execute(f"DROP TRIGGER runs_count_totals_{suffix} ON {SCHEMA}.runs")
    apply_sql_file(op.get_bind(), "functions/runs_count_totals.v1.sql")
