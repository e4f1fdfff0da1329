"""Slot figures beside run figures; the shard in failed_runs and running_runs.

Revision ID: h16_slot_stats_slot_figures
Revises: h16_breaker_circuit_breaker
Create Date: 2026-12-02

- ``job_stats`` v2 appends slots, succeeded_slots, failed_slots and
  slot_success_rate: each slot counted once whatever its retries and shards, by the
  rule of ``job_slot_outcomes``. The run figures still count attempts.
- ``job_timeline`` v2 appends the same slot figures per hour.
- ``failed_runs`` v2 and ``running_runs`` v5 append ``shard``.
- ``job_health`` v3: the latest run is the latest slot's, ended as
  ``job_slot_outcomes`` ends it (succeeded only when every shard did), not
  whichever shard's attempt sorted first.
- ``jobs_audit`` v4 records changes to ``shards``.
"""

from sqlalchemy.engine import Connection

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "h16_slot_stats_slot_figures"
down_revision = "h16_breaker_circuit_breaker"
branch_labels = None
depends_on = None

SCHEMA = "pgsched"
JOB_STATS = f"{SCHEMA}.job_stats(text, integer)"
JOB_TIMELINE = f"{SCHEMA}.job_timeline(text, integer)"


def _reader_function(bind: Connection, signature: str, path: str) -> None:
    # A function's result columns cannot change in place: drop, create, grant again.
    op.execute(f"DROP FUNCTION {signature}")
    apply_sql_file(bind, path)
    op.execute(f"REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO pgsched_reader")


def upgrade() -> None:
    bind = op.get_bind()
    _reader_function(bind, JOB_STATS, "functions/job_stats.v2.sql")
    _reader_function(bind, JOB_TIMELINE, "functions/job_timeline.v2.sql")
    # All three keep or append columns, so CREATE OR REPLACE keeps the views' grants.
    apply_sql_file(bind, "views/failed_runs.v2.sql")
    apply_sql_file(bind, "views/running_runs.v5.sql")
    apply_sql_file(bind, "views/job_health.v3.sql")
    # Replaces the function and its trigger (the file drops and creates the trigger).
    apply_sql_file(bind, "functions/jobs_audit.v4.sql")


def downgrade() -> None:
    bind = op.get_bind()
    apply_sql_file(bind, "functions/jobs_audit.v3.sql")
    # Same columns: CREATE OR REPLACE keeps its grants.
    apply_sql_file(bind, "views/job_health.v2.sql")
    for view, before in (
        ("running_runs", "views/running_runs.v4.sql"),
        ("failed_runs", "views/failed_runs.v1.sql"),
    ):
        op.execute(f"DROP VIEW {SCHEMA}.{view}")
        apply_sql_file(bind, before)
        op.execute(f"GRANT SELECT ON {SCHEMA}.{view} TO pgsched_reader")
    _reader_function(bind, JOB_TIMELINE, "functions/job_timeline.v1.sql")
    _reader_function(bind, JOB_STATS, "functions/job_stats.v1.sql")
