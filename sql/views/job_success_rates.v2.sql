-- Per job name, the runs with an outcome whose slot falls on one of the last 30
-- UTC days (today and the 29 before it). succeeded is a success; failed, timed_out
-- and lost are failures; skipped, cancelled, pending and running are not counted.
--
-- Its cost does not grow with the number of runs: it reads pgsched.recent_run_totals
-- (one row per job, kept by a trigger on runs, over the days from first_day up to
-- next_day, both moved forward once a day), less the days that have left the window
-- since that move, plus the days from next_day on, both read from
-- pgsched.daily_run_totals (normally today's row of each job; after midnight, until
-- the day's first outcome is recorded, yesterday's oldest and the days since). Whole
-- days keep the figure steady through a day; pgsched.job_stats(name, days) gives an
-- exact rolling window instead.
--
-- v2: the recent totals stop at next_day (runs_count_totals v3): today's outcomes
-- are added from the daily totals here, so that a finished run writes one totals row,
-- not two.
CREATE OR REPLACE VIEW pgsched.job_success_rates AS
WITH bounds AS (
    SELECT s.first_day, s.next_day, (now() AT TIME ZONE 'UTC')::date - 29 AS window_start
      FROM pgsched.recent_run_totals_starts AS s
), totals AS (
    -- One grouping of signed rows, not joins: a filter on job_name reaches every
    -- branch through its key (recent_run_totals' and the daily (job_name, day)
    -- index). The counts are summed as float8, exact below 2^53 and far cheaper than
    -- sum(bigint)'s numeric.
    SELECT c.job_name, sum(c.successful_runs)::bigint AS successful_runs,
           sum(c.failed_runs)::bigint AS failed_runs, sum(c.duration_ms_sum) AS duration_ms_sum,
           sum(c.timed_runs)::bigint AS timed_runs, max(c.last_run_at) AS last_run_at
      FROM (SELECT r.job_name, r.successful_runs::float8 AS successful_runs,
                   r.failed_runs::float8 AS failed_runs, r.duration_ms_sum,
                   r.timed_runs::float8 AS timed_runs, r.last_run_at
              FROM pgsched.recent_run_totals AS r
            UNION ALL
            -- The days that left the window since the recent totals last moved.
            SELECT a.job_name, -a.successful_runs::float8, -a.failed_runs::float8,
                   -a.duration_ms_sum, -a.timed_runs::float8, NULL
              FROM pgsched.daily_run_totals AS a
             WHERE a.day >= (SELECT b.first_day FROM bounds AS b)
               AND a.day < (SELECT least(b.next_day, b.window_start) FROM bounds AS b)
            UNION ALL
            -- The days after them: today's (and slots of days ahead), listed day by
            -- day, so that the planner reads them through the key (a range from a
            -- bound it cannot see it takes for a third of the table, and reads all).
            SELECT a.job_name, a.successful_runs::float8, a.failed_runs::float8,
                   a.duration_ms_sum, a.timed_runs::float8, a.last_run_at
              FROM pgsched.daily_run_totals AS a
             WHERE a.day = ANY(ARRAY(
                       SELECT d::date
                         FROM bounds AS b,
                              generate_series(greatest(b.next_day, b.window_start),
                                              (SELECT max(m.day)
                                                 FROM pgsched.daily_run_totals AS m),
                                              interval '1 day') AS d)))
           AS c
     GROUP BY c.job_name
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
