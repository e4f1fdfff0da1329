-- Per job name, the runs with an outcome whose slot falls on one of the last 30
-- UTC days (today and the 29 before it). succeeded is a success; failed, timed_out
-- and lost are failures; skipped, cancelled, pending and running are not counted.
--
-- Its cost does not grow with the number of runs: it reads pgsched.recent_run_totals
-- (one row per job, kept by a trigger on runs, starting at a day moved forward once
-- a day), less the days that have left the window since that move, read from
-- pgsched.daily_run_totals (normally none; after midnight, until the day's first
-- outcome is recorded, yesterday's oldest). Whole days keep the figure steady through a
-- day; pgsched.job_stats(name, days) gives an exact rolling window instead.
CREATE VIEW pgsched.job_success_rates AS
WITH expired AS (
    SELECT a.job_name, sum(a.successful_runs)::bigint AS successful_runs,
           sum(a.failed_runs)::bigint AS failed_runs, sum(a.duration_ms_sum) AS duration_ms_sum,
           sum(a.timed_runs)::bigint AS timed_runs
      FROM pgsched.daily_run_totals AS a
     WHERE a.day >= (SELECT s.first_day FROM pgsched.recent_run_totals_starts AS s)
       AND a.day < (now() AT TIME ZONE 'UTC')::date - 29
     GROUP BY a.job_name
), totals AS (
    SELECT r.job_name,
           r.successful_runs - coalesce(e.successful_runs, 0) AS successful_runs,
           r.failed_runs - coalesce(e.failed_runs, 0) AS failed_runs,
           r.duration_ms_sum - coalesce(e.duration_ms_sum, 0) AS duration_ms_sum,
           r.timed_runs - coalesce(e.timed_runs, 0) AS timed_runs,
           r.last_run_at
      FROM pgsched.recent_run_totals AS r
      LEFT JOIN expired AS e ON e.job_name = r.job_name
)
SELECT t.job_name,
       t.successful_runs,
       t.failed_runs,
       t.successful_runs + t.failed_runs AS total_runs,
       round(100.0 * t.successful_runs / (t.successful_runs + t.failed_runs), 2)
           AS success_rate_percentage,
       t.duration_ms_sum / nullif(t.timed_runs, 0) AS avg_duration_ms,
       t.last_run_at
  FROM totals AS t
 WHERE t.successful_runs + t.failed_runs > 0;

COMMENT ON VIEW pgsched.job_success_rates IS
    'Per job, runs with an outcome whose slot is on one of the last 30 UTC days: successful_runs (succeeded), failed_runs (failed, timed_out, lost), total_runs, success_rate_percentage, avg_duration_ms, last_run_at (latest start).';
