"""Monitoring: views, statistics and control functions, schedule previews, read-only roles.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Released: never edit. A changed function is a new file under sql/ applied by a
new revision.

Roles are cluster-wide while this revision runs per database: it creates
pgsched_reader and pgsched_admin only when they are missing, and its downgrade
revokes what it granted in this database but never drops them, since other
databases may rely on them (``DROP ROLE`` them by hand once none does).
"""

import sqlalchemy as sa

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "pgsched"
SQL_FILES = (
    "functions/roll_recent_run_totals.v1.sql",
    "functions/runs_count_totals.v1.sql",
    "functions/cron_next_match.v1.sql",
    "functions/zone_offset.v1.sql",
    "functions/zone_transition_after.v1.sql",
    "functions/wall_clock_instants.v1.sql",
    "functions/schedule_slots.v1.sql",
    "functions/preview_runs.v1.sql",
    "functions/job_runs.v1.sql",
    "functions/job_stats.v1.sql",
    "functions/job_timeline.v1.sql",
    "functions/scheduler_lag.v1.sql",
    "functions/cleanup_runs.v1.sql",
    "functions/toggle_job.v1.sql",
    "functions/run_now.v2.sql",
    "views/recent_runs.v1.sql",
    "views/job_success_rates.v1.sql",
    "views/failed_runs.v1.sql",
    "views/running_runs.v1.sql",
    "views/workers_alive.v1.sql",
    "views/job_health.v1.sql",
    "views/missed_runs.v1.sql",
)
VIEWS = (
    "missed_runs",
    "job_health",
    "workers_alive",
    "running_runs",
    "failed_runs",
    "job_success_rates",
    "recent_runs",
)
# Functions this revision adds (run_now is not one: the downgrade restores v1).
NEW_FUNCTIONS = (
    "toggle_job(text, boolean, text)",
    "cleanup_runs(integer)",
    "scheduler_lag(integer)",
    "job_timeline(text, integer)",
    "job_stats(text, integer)",
    "job_runs(text, timestamptz)",
    "preview_runs(text, integer, timestamptz)",
    "schedule_slots(text, text, timestamptz, integer)",
    "wall_clock_instants(timestamp, text)",
    "zone_transition_after(timestamptz, text)",
    "zone_offset(timestamptz, text)",
    "cron_next_match(timestamp, integer[], integer[], integer[], integer[], integer[], integer[],"
    " boolean)",
    "runs_count_totals()",
    "roll_recent_run_totals(date)",
)
# Read-only functions that read tables: they run with their owner's rights, so only
# the reader role (and the admin role, a member of it) may call them.
READER_FUNCTIONS = (
    "job_stats(text, integer)",
    "job_timeline(text, integer)",
    "scheduler_lag(integer)",
    "preview_runs(text, integer, timestamptz)",
)
ADMIN_FUNCTIONS = (
    "run_now(text)",
    "toggle_job(text, boolean, text)",
    "cleanup_runs(integer)",
)
COUNTED = "status IN ('succeeded', 'failed', 'timed_out', 'lost')"
TODAY_UTC = "(now() AT TIME ZONE 'UTC')::date"

CREATE_ROLES = """
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['pgsched_reader', 'pgsched_admin'] LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name);
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
        EXCEPTION
            -- Another database's migration created it meanwhile.
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'pgsched migrate must create the role %, and % may not', role_name,
                                current_user
                    USING HINT = 'Create it once as a role with CREATEROLE: CREATE ROLE '
                                 || role_name || ' NOLOGIN; then run pgsched migrate again.';
        END;
    END LOOP;
    IF NOT pg_has_role('pgsched_admin', 'pgsched_reader', 'MEMBER') THEN
        BEGIN
            GRANT pgsched_reader TO pgsched_admin;
        EXCEPTION WHEN unique_violation THEN NULL;
        END;
    END IF;
END
$$
"""


def _totals_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("successful_runs", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("failed_runs", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("duration_ms_sum", sa.Double, nullable=False, server_default=sa.text("0")),
        sa.Column("timed_runs", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("last_run_at", sa.TIMESTAMP(timezone=True)),
    ]


def _functions(names: tuple[str, ...]) -> str:
    return ", ".join(f"{SCHEMA}.{name}" for name in names)


def upgrade() -> None:
    bind = op.get_bind()
    # No run may change between the count below and the triggers that keep it.
    op.execute("LOCK TABLE pgsched.runs IN SHARE ROW EXCLUSIVE MODE")

    # What the runs add up to, kept by a trigger on runs (functions/runs_count_totals):
    # per job and UTC day of the slot, and per job over the days from first_day on.
    op.create_table(
        "daily_run_totals",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("job_name", sa.Text, primary_key=True),
        *_totals_columns(),
        schema=SCHEMA,
        # Room for HOT updates: every finished run rewrites its day's row.
        postgresql_with={"fillfactor": 70},
    )
    op.create_index(
        "daily_run_totals_job_name_day_idx",
        "daily_run_totals",
        ["job_name", "day"],
        schema=SCHEMA,
    )
    op.create_table(
        "recent_run_totals",
        sa.Column("job_name", sa.Text, primary_key=True),
        *_totals_columns(),
        schema=SCHEMA,
        postgresql_with={"fillfactor": 70},
    )
    op.create_table(
        "recent_run_totals_starts",
        sa.Column("only_row", sa.Boolean, primary_key=True, server_default=sa.text("true")),
        sa.Column("first_day", sa.Date, nullable=False),
        sa.CheckConstraint("only_row", name="recent_run_totals_starts_only_row_check"),
        schema=SCHEMA,
    )
    op.execute(
        f"""
        INSERT INTO pgsched.daily_run_totals
               (day, job_name, successful_runs, failed_runs, duration_ms_sum, timed_runs,
                last_run_at)
        SELECT (scheduled_for AT TIME ZONE 'UTC')::date, job_name,
               count(*) FILTER (WHERE status = 'succeeded'),
               count(*) FILTER (WHERE status <> 'succeeded'),
               coalesce(sum(duration_ms), 0), count(duration_ms), max(started_at)
          FROM pgsched.runs
         WHERE {COUNTED}
         GROUP BY 1, 2
        """
    )
    op.execute(
        f"INSERT INTO pgsched.recent_run_totals_starts (first_day) VALUES ({TODAY_UTC} - 29)"
    )
    op.execute(
        f"""
        INSERT INTO pgsched.recent_run_totals
               (job_name, successful_runs, failed_runs, duration_ms_sum, timed_runs, last_run_at)
        SELECT job_name, sum(successful_runs), sum(failed_runs), sum(duration_ms_sum),
               sum(timed_runs), max(last_run_at)
          FROM pgsched.daily_run_totals
         WHERE day >= {TODAY_UTC} - 29
         GROUP BY job_name
        """
    )
    # failed_runs reads the latest failures per status, missed_runs the latest
    # skips; only rows in those statuses enter the index, so runs that succeed
    # never pay for it. The claim path's indexes are unchanged.
    op.create_index(
        "runs_status_finished_at_idx",
        "runs",
        ["status", "finished_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status IN ('failed', 'timed_out', 'lost', 'skipped')"),
    )

    for path in SQL_FILES:
        apply_sql_file(bind, path)

    op.execute(CREATE_ROLES)
    op.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO pgsched_reader")
    op.execute(
        f"GRANT SELECT ON {', '.join(f'{SCHEMA}.{view}' for view in VIEWS)} TO pgsched_reader"
    )
    op.execute(f"REVOKE EXECUTE ON FUNCTION {_functions(READER_FUNCTIONS)} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {_functions(READER_FUNCTIONS)} TO pgsched_reader")
    # Until now anyone could call run_now with the rights to insert a run; it now
    # runs with its owner's rights, for pgsched_admin only. (The worker's functions
    # keep their caller's rights, so the reader cannot write through them.)
    op.execute(f"REVOKE EXECUTE ON FUNCTION {_functions(ADMIN_FUNCTIONS)} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {_functions(ADMIN_FUNCTIONS)} TO pgsched_admin")
    # Only the totals trigger (running as the owner) moves the totals' window.
    op.execute(f"REVOKE EXECUTE ON FUNCTION {SCHEMA}.roll_recent_run_totals(date) FROM PUBLIC")
    op.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {SCHEMA}.jobs, {SCHEMA}.queue_limits "
        "TO pgsched_admin"
    )
    # The jobs trigger looks time zones up as the user who writes the job.
    op.execute(f"GRANT SELECT ON {SCHEMA}.time_zones TO pgsched_admin")
    op.execute(f"GRANT USAGE ON SEQUENCE {SCHEMA}.jobs_id_seq TO pgsched_admin")


def downgrade() -> None:
    bind = op.get_bind()
    op.execute(
        f"""
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgsched_admin') THEN
                REVOKE ALL ON SEQUENCE {SCHEMA}.jobs_id_seq FROM pgsched_admin;
                REVOKE ALL ON {SCHEMA}.jobs, {SCHEMA}.queue_limits, {SCHEMA}.time_zones
                    FROM pgsched_admin;
                REVOKE ALL ON FUNCTION {_functions(ADMIN_FUNCTIONS)} FROM pgsched_admin;
            END IF;
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgsched_reader') THEN
                REVOKE ALL ON SCHEMA {SCHEMA} FROM pgsched_reader;
            END IF;
        END
        $$
        """
    )
    op.execute(f"GRANT EXECUTE ON FUNCTION {SCHEMA}.run_now(text) TO PUBLIC")

    for view in VIEWS:
        op.execute(f"DROP VIEW {SCHEMA}.{view}")
    apply_sql_file(bind, "functions/run_now.v1.sql")
    for suffix in ("truncate", "delete", "update", "insert"):
        op.execute(f"DROP TRIGGER runs_count_totals_{suffix} ON {SCHEMA}.runs")
    for function in NEW_FUNCTIONS:
        op.execute(f"DROP FUNCTION {SCHEMA}.{function}")
    op.drop_index("runs_status_finished_at_idx", table_name="runs", schema=SCHEMA)
    for table in ("recent_run_totals_starts", "recent_run_totals", "daily_run_totals"):
        op.drop_table(table, schema=SCHEMA)
