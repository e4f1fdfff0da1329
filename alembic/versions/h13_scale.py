"""A million jobs: bulk INSERTs of jobs pay per statement, not per row, where they can.

Revision ID: h13_scale
Revises: h13_run_totals_fast_path
Create Date: 2026-12-02

A 100,000-row INSERT into ``pgsched.jobs`` took about 75 s on the 2-core machine,
3.5 s of it the INSERT itself: the row triggers did the rest.

- ``jobs_audit`` v5: inserts and deletes are recorded by statement-level triggers
  reading the statement's transition table (one INSERT into ``job_changes`` per
  statement, one record per job as before); updates stay per row.
- ``jobs_before_write`` v3 (its triggers): on INSERT the checks run only for rows
  that are not plainly valid, decided by the trigger's WHEN condition without a
  function call; ``jobs_breaker_check`` fires only for rows it refuses.
- ``json_value_error`` v3 lets values too small to break its bounds through
  without walking them.
"""

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "h13_scale"
down_revision = "h13_run_totals_fast_path"
branch_labels = None
depends_on = None

SCHEMA = "pgsched"
DEFINITION_COLUMNS = (
    "name, schedule, timezone, kind, target, args, enabled, timeout_seconds, max_attempts,"
    " retry_delay_seconds, overlap, misfire, misfire_threshold_seconds, queue"
)


def upgrade() -> None:
    bind = op.get_bind()
    apply_sql_file(bind, "functions/json_value_error.v3.sql")
    # Each file replaces the triggers it names (dropping the old ones first).
    apply_sql_file(bind, "functions/jobs_audit.v5.sql")
    apply_sql_file(bind, "functions/jobs_before_write.v3.sql")


def downgrade() -> None:
    bind = op.get_bind()
    op.execute(f"DROP TRIGGER jobs_breaker_check ON {SCHEMA}.jobs")
    op.execute(
        f"CREATE TRIGGER jobs_breaker_check BEFORE INSERT OR UPDATE OF breaker_failures,"
        f" breaker_cooldown_seconds ON {SCHEMA}.jobs"
        f" FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.jobs_breaker_check()"
    )
    op.execute(f"DROP TRIGGER jobs_before_insert ON {SCHEMA}.jobs")
    op.execute(f"DROP TRIGGER jobs_before_write ON {SCHEMA}.jobs")
    op.execute(
        f"CREATE TRIGGER jobs_before_write BEFORE INSERT OR UPDATE OF {DEFINITION_COLUMNS}"
        f" ON {SCHEMA}.jobs FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.jobs_before_write()"
    )
    op.execute(f"DROP TRIGGER jobs_audit_insert ON {SCHEMA}.jobs")
    op.execute(f"DROP TRIGGER jobs_audit_delete ON {SCHEMA}.jobs")
    op.execute(f"DROP FUNCTION {SCHEMA}.jobs_audit_rows()")
    # Replaces the function and its trigger (the file drops and creates the trigger).
    apply_sql_file(bind, "functions/jobs_audit.v4.sql")
    op.execute(f"DROP FUNCTION {SCHEMA}.job_audited_columns()")
    apply_sql_file(bind, "functions/json_value_error.v2.sql")
