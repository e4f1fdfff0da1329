"""Replay and alerts: pgsched.retry_run, jobs.warn_after_seconds, running_runs v4.

Revision ID: h16_replay_alerts
Revises: issue12_beyond_one_machine
Create Date: 2026-12-02

``retry_run(run_id)`` queues a new attempt of a finished run's slot (trigger
``manual``) and records it in ``job_changes`` as ``retry_run``, a new kind of change;
pgsched_admin may call it, pgsched_reader may not. ``jobs.warn_after_seconds``
(nullable: no warning) is how long an attempt may run before it is flagged;
``running_runs`` v4 appends it and ``over_warning``, ``job_definitions`` v2 it alone;
``jobs_audit`` v2 records its changes, as it does every column a person decides.
"""

import sqlalchemy as sa

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "h16_replay_alerts"
down_revision = "issue12_beyond_one_machine"
branch_labels = None
depends_on = None

SCHEMA = "pgsched"
RETRY_RUN = f"{SCHEMA}.retry_run(bigint)"
CHANGES_BEFORE = "change IN ('insert', 'update', 'delete', 'toggle', 'run_now')"
CHANGES_AFTER = "change IN ('insert', 'update', 'delete', 'toggle', 'run_now', 'retry_run')"


def _changes_check(condition: str) -> None:
    op.drop_constraint("job_changes_change_check", "job_changes", schema=SCHEMA)
    op.create_check_constraint("job_changes_change_check", "job_changes", condition, schema=SCHEMA)


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("jobs", sa.Column("warn_after_seconds", sa.Integer), schema=SCHEMA)
    op.create_check_constraint(
        "jobs_warn_after_seconds_check", "jobs", "warn_after_seconds > 0", schema=SCHEMA
    )
    # A column a person decides, as roles.v1.sql grants the others.
    op.execute(
        f"GRANT INSERT (warn_after_seconds), UPDATE (warn_after_seconds) ON {SCHEMA}.jobs "
        "TO pgsched_admin"
    )
    apply_sql_file(bind, "functions/jobs_audit.v2.sql")
    # v4 and v2 only append columns, so CREATE OR REPLACE keeps the views' grants.
    apply_sql_file(bind, "views/running_runs.v4.sql")
    apply_sql_file(bind, "views/job_definitions.v2.sql")
    _changes_check(CHANGES_AFTER)
    apply_sql_file(bind, "functions/retry_run.v1.sql")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {RETRY_RUN} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {RETRY_RUN} TO pgsched_admin")


def downgrade() -> None:
    bind = op.get_bind()
    op.execute(f"DROP FUNCTION {RETRY_RUN}")
    # The trail is append-only: its retry_run rows stay, as their own kind no longer is.
    op.execute(f"ALTER TABLE {SCHEMA}.job_changes DROP CONSTRAINT job_changes_change_check")
    op.execute(
        f"ALTER TABLE {SCHEMA}.job_changes ADD CONSTRAINT job_changes_change_check "
        f"CHECK ({CHANGES_BEFORE}) NOT VALID"
    )
    op.execute(f"DROP TRIGGER jobs_audit ON {SCHEMA}.jobs")
    apply_sql_file(bind, "functions/jobs_audit.v1.sql")
    for view, before in (
        ("running_runs", "views/running_runs.v3.sql"),
        ("job_definitions", "views/job_definitions.v1.sql"),
    ):
        op.execute(f"DROP VIEW {SCHEMA}.{view}")
        apply_sql_file(bind, before)
        op.execute(f"GRANT SELECT ON {SCHEMA}.{view} TO pgsched_reader")
    op.drop_column("jobs", "warn_after_seconds", schema=SCHEMA)
