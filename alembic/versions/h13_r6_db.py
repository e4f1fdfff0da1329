"""A finished run writes one totals row, not two: today's outcomes stay in the daily totals.

Revision ID: h13_r6_db
Revises: h13_r5_frozen_worker
Create Date: 2026-12-03

- ``recent_run_totals_starts.next_day``: ``recent_run_totals`` now sums the days from
  ``first_day`` up to, not including, ``next_day`` (today after each daily roll), no
  longer every day from ``first_day`` on.
- ``runs_count_totals`` v3: an outcome of a slot on or after ``next_day`` (a worker's
  batch: today's) is added to ``daily_run_totals`` alone; it added a row to both.
  Half the trigger's row upserts per finished run (~15 us a run, the largest part of
  the finish after the UPDATE itself), and in a herd half the new rows.
- ``roll_recent_run_totals`` v2: the once-a-day roll also adds the days it passes.
- ``job_success_rates`` v2: adds the days from ``next_day`` on, read from
  ``daily_run_totals`` (one row per job: today's); the same answers.
"""

import sqlalchemy as sa

from alembic import op
from pgsched.db.migrations import apply_sql_file, sql_dir

revision = "h13_r6_db"
down_revision = "h13_r5_frozen_worker"
branch_labels = None
depends_on = None

SCHEMA = "pgsched"
TODAY_UTC = "(now() AT TIME ZONE 'UTC')::date"
# 'pgst', the totals lock of runs_count_totals: no count runs during the move.
TOTALS_LOCK = "SELECT pg_advisory_xact_lock(1885827956)"
SUMS = (
    "successful_runs = t.successful_runs {sign} d.successful_runs,"
    " failed_runs = t.failed_runs {sign} d.failed_runs,"
    " duration_ms_sum = t.duration_ms_sum {sign} d.duration_ms_sum,"
    " timed_runs = t.timed_runs {sign} d.timed_runs"
)
DAYS_FROM_NEXT_DAY = f"""
    SELECT a.job_name, sum(a.successful_runs) AS successful_runs,
           sum(a.failed_runs) AS failed_runs, sum(a.duration_ms_sum) AS duration_ms_sum,
           sum(a.timed_runs) AS timed_runs, max(a.last_run_at) AS last_run_at
      FROM {SCHEMA}.daily_run_totals AS a
     WHERE a.day >= (SELECT s.first_day FROM {SCHEMA}.recent_run_totals_starts AS s)
       AND a.day >= (SELECT s.next_day FROM {SCHEMA}.recent_run_totals_starts AS s)
     GROUP BY a.job_name
     ORDER BY a.job_name
"""


def upgrade() -> None:
    bind = op.get_bind()
    op.execute(TOTALS_LOCK)
    op.add_column("recent_run_totals_starts", sa.Column("next_day", sa.Date), schema=SCHEMA)
    op.execute(
        f"UPDATE {SCHEMA}.recent_run_totals_starts SET next_day = greatest(first_day, {TODAY_UTC})"
    )
    op.alter_column("recent_run_totals_starts", "next_day", nullable=False, schema=SCHEMA)
    # Take the days from next_day on out of the recent totals: they are read from the
    # daily ones now.
    op.execute(
        f"UPDATE {SCHEMA}.recent_run_totals AS t SET {SUMS.format(sign='-')}"
        f" FROM ({DAYS_FROM_NEXT_DAY}) AS d WHERE t.job_name = d.job_name"
    )
    op.execute(
        f"DELETE FROM {SCHEMA}.recent_run_totals AS t WHERE t.successful_runs + t.failed_runs <= 0"
    )
    op.execute(
        f"""
        UPDATE {SCHEMA}.recent_run_totals AS t
           SET last_run_at = (SELECT max(a.last_run_at) FROM {SCHEMA}.daily_run_totals AS a
                               WHERE a.job_name = t.job_name
                                 AND a.day >= s.first_day AND a.day < s.next_day)
          FROM {SCHEMA}.recent_run_totals_starts AS s
        """
    )
    # The same signatures: CREATE OR REPLACE keeps the triggers and the view's grants.
    apply_sql_file(bind, "functions/runs_count_totals.v3.sql")
    apply_sql_file(bind, "functions/roll_recent_run_totals.v2.sql")
    apply_sql_file(bind, "views/job_success_rates.v2.sql")


def downgrade() -> None:
    bind = op.get_bind()
    op.execute(TOTALS_LOCK)
    # The recent totals take the days from next_day on back.
    op.execute(
        f"""
        INSERT INTO {SCHEMA}.recent_run_totals AS t
               (job_name, successful_runs, failed_runs, duration_ms_sum, timed_runs,
                last_run_at)
        SELECT d.job_name, d.successful_runs, d.failed_runs, d.duration_ms_sum,
               d.timed_runs, d.last_run_at
          FROM ({DAYS_FROM_NEXT_DAY}) AS d
        ON CONFLICT (job_name) DO UPDATE
           SET successful_runs = t.successful_runs + excluded.successful_runs,
               failed_runs = t.failed_runs + excluded.failed_runs,
               duration_ms_sum = t.duration_ms_sum + excluded.duration_ms_sum,
               timed_runs = t.timed_runs + excluded.timed_runs,
               last_run_at = greatest(t.last_run_at, excluded.last_run_at)
        """
    )
    # v1's view is a plain CREATE VIEW: replace it in place with v1's text instead.
    view = (sql_dir() / "views/job_success_rates.v1.sql").read_text(encoding="utf-8")
    driver_connection = bind.connection.driver_connection
    assert driver_connection is not None
    driver_connection.execute(view.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))
    apply_sql_file(bind, "functions/roll_recent_run_totals.v1.sql")
    apply_sql_file(bind, "functions/runs_count_totals.v2.sql")
    op.drop_column("recent_run_totals_starts", "next_day", schema=SCHEMA)
