"""Security: an audit trail of job changes, bounded job values, one python target grammar,
a pgsched_worker role, column-level rights for pgsched_admin, pinned search_path.

Revision ID: issue11_security
Revises: issue13_on_the_second
Create Date: 2026-11-25

Released: never edit. A changed function is a new file under sql/ applied by a
new revision.

``pgsched.job_changes`` records every change to a job (written by the ``jobs_audit``
trigger and by ``run_now``), with ``session_user``; it is append-only and readable by
pgsched_admin. ``jobs_before_write`` v2 takes the python executor's target grammar and
bounds ``args``; a new trigger bounds ``checkpoint``. ``cron_field_values`` v2 refuses
steps wider than their field. pgsched_worker holds what a worker's login needs;
pgsched_admin may no longer write the workers' columns of jobs (next_run, last_error,
checkpoint). Every function of the schema gets ``search_path = pg_catalog, pg_temp``.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import INET, JSONB, TIMESTAMP

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "issue11_security"
down_revision = "issue13_on_the_second"
branch_labels = None
depends_on = None

SCHEMA = "pgsched"
SQL_FILES = (
    "functions/cron_field_values.v2.sql",
    "functions/python_target_error.v1.sql",
    "functions/json_value_error.v1.sql",
    "functions/jobs_before_write.v2.sql",
    "functions/jobs_checkpoint_check.v1.sql",
    "functions/record_job_change.v1.sql",
    "functions/jobs_audit.v1.sql",
    "functions/job_changes_append_only.v1.sql",
    "functions/run_now.v3.sql",
    "security/roles.v1.sql",
    "security/search_path.v1.sql",
)
NEW_FUNCTIONS = (
    "jobs_audit()",
    "record_job_change(bigint, text, text, jsonb, jsonb)",
    "jobs_checkpoint_check()",
    "json_value_error(jsonb, integer, integer)",
    "python_target_error(text)",
)
# Functions of earlier revisions that security/search_path.v1.sql pinned and that no
# older file replaces on the way down (cron_field_values and jobs_before_write are).
PINNED_HERE = (
    "cron_next_match(timestamp, integer[], integer[], integer[], integer[], integer[],"
    " integer[], boolean)",
    "job_args_error(text, jsonb)",
    "job_runs(text, timestamptz)",
    "jobs_notify()",
    "next_attempt_at(text, integer, integer, integer, boolean, boolean)",
    "reap_lost_runs(text)",
    "retire_orphan_runs()",
    "retry_delay(integer, integer)",
    "running_run_ids(bigint)",
    "schedule_error(text)",
    "schedule_slots(text, text, timestamptz, integer)",
    "start_pending_runs(text, text[], integer)",
    "timezone_error(text)",
    "wall_clock_instants(timestamp, text)",
    "zone_offset(timestamptz, text)",
    "zone_transition_after(timestamptz, text)",
)
CHANGE_KINDS = "change IN ('insert', 'update', 'delete', 'toggle', 'run_now')"


def upgrade() -> None:
    op.create_table(
        "job_changes",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        # No foreign key: the trail outlives the job, as its runs do.
        sa.Column("job_id", sa.BigInteger),
        sa.Column("job_name", sa.Text, nullable=False),
        sa.Column("change", sa.Text, nullable=False),
        sa.Column(
            "changed_at", TIMESTAMP(timezone=True), nullable=False, server_default=sa.text("now()")
        ),
        sa.Column("changed_by", sa.Text, nullable=False),
        sa.Column("actor", sa.Text),
        sa.Column("client_addr", INET),
        sa.Column("old_values", JSONB),
        sa.Column("new_values", JSONB),
        sa.CheckConstraint(CHANGE_KINDS, name="job_changes_change_check"),
        schema=SCHEMA,
    )
    op.create_index("job_changes_job_id_idx", "job_changes", ["job_id"], schema=SCHEMA)
    op.create_index("job_changes_job_name_idx", "job_changes", ["job_name"], schema=SCHEMA)
    op.execute(f"REVOKE ALL ON {SCHEMA}.job_changes FROM PUBLIC")

    bind = op.get_bind()
    for path in SQL_FILES:
        apply_sql_file(bind, path)


def downgrade() -> None:
    bind = op.get_bind()
    op.execute(
        f"""
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgsched_worker') THEN
                REVOKE ALL ON {SCHEMA}.jobs, {SCHEMA}.runs, {SCHEMA}.workers,
                              {SCHEMA}.queue_limits, {SCHEMA}.alembic_version
                    FROM pgsched_worker;
                REVOKE ALL ON SEQUENCE {SCHEMA}.run_fence_seq FROM pgsched_worker;
                REVOKE ALL ON SCHEMA {SCHEMA} FROM pgsched_worker;
            END IF;
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgsched_admin') THEN
                REVOKE ALL ON {SCHEMA}.jobs FROM pgsched_admin;
                GRANT SELECT, INSERT, UPDATE, DELETE ON {SCHEMA}.jobs TO pgsched_admin;
            END IF;
        END
        $$
        """
    )
    for function in PINNED_HERE:
        op.execute(f"ALTER FUNCTION {SCHEMA}.{function} RESET search_path")
    apply_sql_file(bind, "functions/run_now.v2.sql")
    op.execute(f"DROP TRIGGER jobs_before_write ON {SCHEMA}.jobs")
    apply_sql_file(bind, "functions/jobs_before_write.v1.sql")
    apply_sql_file(bind, "functions/cron_field_values.v1.sql")
    op.execute(f"DROP TRIGGER jobs_audit ON {SCHEMA}.jobs")
    op.execute(f"DROP TRIGGER jobs_checkpoint_check ON {SCHEMA}.jobs")
    op.drop_table("job_changes", schema=SCHEMA)
    op.execute(f"DROP FUNCTION {SCHEMA}.job_changes_append_only()")
    for function in NEW_FUNCTIONS:
        op.execute(f"DROP FUNCTION {SCHEMA}.{function}")
