"""Circuit breakers: a job paused after consecutive failed slots, then probed.

Revision ID: h16_breaker_circuit_breaker
Revises: h16_shards_priority_fanout
Create Date: 2026-12-02

- ``jobs.breaker_failures`` (NULL: no breaker, the default) and
  ``jobs.breaker_cooldown_seconds``, checked by the ``jobs_breaker_check`` trigger.
- ``job_breakers``: one row per job whose breaker has something to remember (failed
  slots counted, open, half-open); no row is closed. Workers write it in the
  transaction that records a slot's final outcome (``breaker_record``) and in the
  claim that starts the probe slot.
- ``reset_breaker(name)`` closes one by hand, recorded in ``job_changes``.
- ``jobs_audit`` v3 audits the two settings like the rest of the definition.
- ``job_health`` v2 appends the breaker's state, count and end of cool-down.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TIMESTAMP

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "h16_breaker_circuit_breaker"
down_revision = "h16_shards_priority_fanout"
branch_labels = None
depends_on = None

SCHEMA = "pgsched"
CHANGES_BEFORE = "change IN ('insert', 'update', 'delete', 'toggle', 'run_now', 'retry_run')"
CHANGES_AFTER = (
    "change IN ('insert', 'update', 'delete', 'toggle', 'run_now', 'retry_run', 'reset_breaker')"
)
BREAKER_COLUMNS = "breaker_failures, breaker_cooldown_seconds"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("breaker_failures", sa.Integer), schema=SCHEMA)
    op.add_column(
        "jobs",
        sa.Column(
            "breaker_cooldown_seconds", sa.Integer, nullable=False, server_default=sa.text("300")
        ),
        schema=SCHEMA,
    )
    op.create_check_constraint(
        "jobs_breaker_failures_check", "jobs", "breaker_failures > 0", schema=SCHEMA
    )
    op.create_check_constraint(
        "jobs_breaker_cooldown_seconds_check", "jobs", "breaker_cooldown_seconds > 0", schema=SCHEMA
    )
    op.create_table(
        "job_breakers",
        sa.Column(
            "job_id",
            sa.BigInteger,
            sa.ForeignKey(f"{SCHEMA}.jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("state", sa.Text, nullable=False, server_default=sa.text("'closed'")),
        sa.Column("failed_slots", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("opened_at", TIMESTAMP(timezone=True)),
        sa.Column("open_until", TIMESTAMP(timezone=True)),
        sa.Column("probe_slot", TIMESTAMP(timezone=True)),
        sa.Column(
            "changed_at", TIMESTAMP(timezone=True), nullable=False, server_default=sa.text("now()")
        ),
        sa.CheckConstraint(
            "state IN ('closed', 'open', 'half_open')", name="job_breakers_state_check"
        ),
        schema=SCHEMA,
    )
    op.drop_constraint("job_changes_change_check", "job_changes", schema=SCHEMA)
    op.create_check_constraint(
        "job_changes_change_check", "job_changes", CHANGES_AFTER, schema=SCHEMA
    )
    bind = op.get_bind()
    for path in (
        "functions/jobs_breaker_check.v1.sql",
        "functions/breaker_record.v1.sql",
        "functions/reset_breaker.v1.sql",
        "functions/jobs_audit.v3.sql",
        "views/job_health.v2.sql",
    ):
        apply_sql_file(bind, path)
    op.execute(f"REVOKE ALL ON {SCHEMA}.job_breakers FROM PUBLIC")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {SCHEMA}.job_breakers TO pgsched_worker")
    op.execute(f"GRANT SELECT ON {SCHEMA}.job_breakers TO pgsched_admin, pgsched_reader")
    op.execute(
        f"GRANT INSERT ({BREAKER_COLUMNS}), UPDATE ({BREAKER_COLUMNS}) "
        f"ON {SCHEMA}.jobs TO pgsched_admin"
    )
    op.execute(f"REVOKE EXECUTE ON FUNCTION {SCHEMA}.reset_breaker(text) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SCHEMA}.reset_breaker(text) TO pgsched_admin")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {SCHEMA}.breaker_record(jsonb) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SCHEMA}.breaker_record(jsonb) TO pgsched_worker")


def downgrade() -> None:
    bind = op.get_bind()
    op.execute(f"DROP VIEW {SCHEMA}.job_health")
    apply_sql_file(bind, "views/job_health.v1.sql")
    op.execute(f"GRANT SELECT ON {SCHEMA}.job_health TO pgsched_reader")
    op.execute(f"DROP TRIGGER jobs_audit ON {SCHEMA}.jobs")
    apply_sql_file(bind, "functions/jobs_audit.v2.sql")
    op.execute(f"DROP FUNCTION {SCHEMA}.reset_breaker(text)")
    op.execute(f"DROP FUNCTION {SCHEMA}.breaker_record(jsonb)")
    op.execute(f"DROP TRIGGER jobs_breaker_check ON {SCHEMA}.jobs")
    op.execute(f"DROP FUNCTION {SCHEMA}.jobs_breaker_check()")
    # The trail is append-only: its reset_breaker rows stay, as their kind no longer is.
    op.drop_constraint("job_changes_change_check", "job_changes", schema=SCHEMA)
    op.execute(
        f"ALTER TABLE {SCHEMA}.job_changes ADD CONSTRAINT job_changes_change_check "
        f"CHECK ({CHANGES_BEFORE}) NOT VALID"
    )
    op.drop_table("job_breakers", schema=SCHEMA)
    op.drop_column("jobs", "breaker_cooldown_seconds", schema=SCHEMA)
    op.drop_column("jobs", "breaker_failures", schema=SCHEMA)
