"""Claims ordered by priority; a slot fanned out to shards.

Revision ID: h16_shards_priority_fanout
Revises: h16_cron_syntax
Create Date: 2026-12-02

- ``jobs_queue_priority_due_idx``: per queue, enabled jobs by priority (highest
  first), then in due order. The claim walks a queue's priorities one index descent
  each and reads the due jobs of each as a bounded range, so ordering by priority
  never sorts everything that is due.
- ``jobs.shards`` (1..1000) and ``runs.shard``: a slot of a job with N shards has N
  first attempts, shard 0..N-1. The unique key of runs gains the shard: one first
  attempt per (job, slot, shard). ``job_shard_checkpoints`` keeps the checkpoints of
  shards 1..N-1 (shard 0 keeps ``jobs.checkpoint``, as an unsharded job does).
- New versions of the functions that start, retry, recover and report attempts, each
  per shard: ``start_pending_runs`` v4 (returns the shard), ``running_run_ids`` v2,
  ``reap_lost_runs`` v3, ``run_now`` v4, ``retry_run`` v2, ``job_slot_outcomes`` v2;
  ``job_definitions`` v3, ``recent_runs`` v2 and ``job_overview`` v2 show shards.
"""

import sqlalchemy as sa

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "h16_shards_priority_fanout"
down_revision = "h16_cron_syntax"
branch_labels = None
depends_on = None

SCHEMA = "pgsched"
DUE = "coalesce(next_run, '-infinity'::timestamptz)"
OLD_KEY = ("runs_job_id_scheduled_for_attempt_key", ["job_id", "scheduled_for", "attempt"])
NEW_KEY = (
    "runs_job_id_scheduled_for_shard_attempt_key",
    ["job_id", "scheduled_for", "shard", "attempt"],
)
# (before, after) for each function replaced in place (same signature).
FUNCTIONS = (
    ("functions/running_run_ids.v1.sql", "functions/running_run_ids.v2.sql"),
    ("functions/reap_lost_runs.v2.sql", "functions/reap_lost_runs.v3.sql"),
    ("functions/run_now.v3.sql", "functions/run_now.v4.sql"),
    ("functions/retry_run.v1.sql", "functions/retry_run.v2.sql"),
)
SLOT_OUTCOMES = f"{SCHEMA}.job_slot_outcomes(text[], integer)"
START_PENDING = f"{SCHEMA}.start_pending_runs(text, text[], integer)"
OVERVIEW = f"{SCHEMA}.job_overview(text)"


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column("shards", sa.Integer, nullable=False, server_default=sa.text("1")),
        schema=SCHEMA,
    )
    op.create_check_constraint(
        "jobs_shards_check", "jobs", "shards BETWEEN 1 AND 1000", schema=SCHEMA
    )
    op.add_column(
        "runs",
        sa.Column("shard", sa.Integer, nullable=False, server_default=sa.text("0")),
        schema=SCHEMA,
    )
    op.create_check_constraint("runs_shard_check", "runs", "shard >= 0", schema=SCHEMA)
    op.create_unique_constraint(NEW_KEY[0], "runs", NEW_KEY[1], schema=SCHEMA)
    op.drop_constraint(OLD_KEY[0], "runs", schema=SCHEMA)
    op.create_index(
        "jobs_queue_priority_due_idx",
        "jobs",
        ["queue", sa.text("priority DESC"), sa.text(DUE)],
        schema=SCHEMA,
        postgresql_where=sa.text("enabled"),
    )
    op.create_table(
        "job_shard_checkpoints",
        sa.Column(
            "job_id",
            sa.BigInteger,
            sa.ForeignKey(f"{SCHEMA}.jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("shard", sa.Integer, primary_key=True),
        sa.Column("checkpoint", sa.dialects.postgresql.JSONB, nullable=False),
        # The bounds jobs_checkpoint_check puts on jobs.checkpoint.
        sa.CheckConstraint(
            "pgsched.json_value_error(checkpoint, 32, 1048576) IS NULL",
            name="job_shard_checkpoints_checkpoint_check",
        ),
        schema=SCHEMA,
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON {SCHEMA}.job_shard_checkpoints TO pgsched_worker")
    bind = op.get_bind()
    for _, after in FUNCTIONS:
        apply_sql_file(bind, after)
    # A function's result columns cannot change in place: drop, create, grant.
    op.execute(f"DROP FUNCTION {START_PENDING}")
    apply_sql_file(bind, "functions/start_pending_runs.v4.sql")
    op.execute(f"DROP FUNCTION {SLOT_OUTCOMES}")
    apply_sql_file(bind, "functions/job_slot_outcomes.v2.sql")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {SLOT_OUTCOMES} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SLOT_OUTCOMES} TO pgsched_reader")
    apply_sql_file(bind, "views/job_definitions.v3.sql")
    apply_sql_file(bind, "views/recent_runs.v2.sql")
    op.execute(f"DROP FUNCTION {OVERVIEW}")
    apply_sql_file(bind, "functions/job_overview.v2.sql")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {OVERVIEW} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {OVERVIEW} TO pgsched_reader")
    op.execute(f"GRANT INSERT (shards), UPDATE (shards) ON {SCHEMA}.jobs TO pgsched_admin")


def downgrade() -> None:
    bind = op.get_bind()
    op.execute(f"REVOKE INSERT (shards), UPDATE (shards) ON {SCHEMA}.jobs FROM pgsched_admin")
    op.execute(f"DROP FUNCTION {OVERVIEW}")
    apply_sql_file(bind, "functions/job_overview.v1.sql")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {OVERVIEW} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {OVERVIEW} TO pgsched_reader")
    op.execute(f"DROP VIEW {SCHEMA}.recent_runs")
    apply_sql_file(bind, "views/recent_runs.v1.sql")
    op.execute(f"GRANT SELECT ON {SCHEMA}.recent_runs TO pgsched_reader")
    op.execute(f"DROP VIEW {SCHEMA}.job_definitions")
    apply_sql_file(bind, "views/job_definitions.v2.sql")
    op.execute(f"GRANT SELECT ON {SCHEMA}.job_definitions TO pgsched_reader")
    op.execute(f"DROP FUNCTION {SLOT_OUTCOMES}")
    apply_sql_file(bind, "functions/job_slot_outcomes.v1.sql")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {SLOT_OUTCOMES} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SLOT_OUTCOMES} TO pgsched_reader")
    op.execute(f"DROP FUNCTION {START_PENDING}")
    apply_sql_file(bind, "functions/start_pending_runs.v3.sql")
    for before, _ in FUNCTIONS:
        apply_sql_file(bind, before)
    # The older files do not carry the setting that revision issue11 pinned.
    apply_sql_file(bind, "security/search_path.v1.sql")
    op.drop_table("job_shard_checkpoints", schema=SCHEMA)
    op.drop_index("jobs_queue_priority_due_idx", table_name="jobs", schema=SCHEMA)
    # Shards 1..N-1 have no place in the old key: their attempts go with the column.
    op.execute(f"DELETE FROM {SCHEMA}.runs WHERE shard > 0")
    op.create_unique_constraint(OLD_KEY[0], "runs", OLD_KEY[1], schema=SCHEMA)
    op.drop_constraint(NEW_KEY[0], "runs", schema=SCHEMA)
    op.drop_constraint("runs_shard_check", "runs", schema=SCHEMA)
    op.drop_column("runs", "shard", schema=SCHEMA)
    op.drop_constraint("jobs_shards_check", "jobs", schema=SCHEMA)
    op.drop_column("jobs", "shards", schema=SCHEMA)
