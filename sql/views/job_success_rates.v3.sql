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
-- v3: the same answers as v2, cheaper. Once the day's roll has run (settled: no day
-- has left the window, and no daily row lies after next_day), a job's figures are its
-- recent row plus its row of next_day, and the view is one FULL JOIN of the two by
-- job_name: v2 grouped both sets of rows (20,000 for 10,000 jobs), which cost about as
-- much again as reading them. The FULL JOIN's merged job_name (USING) takes a filter
-- on the name to both sides, so one job is two key lookups. Otherwise (minutes after
-- midnight, or a slot of a day ahead) v2's grouping of signed rows runs instead; only
-- one of the two branches runs.
CREATE OR REPLACE VIEW pgsched.job_success_rates AS
WITH bounds AS (
    -- LIMIT 1: the table has one row, which the planner, without statistics for it,
    -- takes for thousands (and then costs this view high enough to JIT-compile it).
    -- last_day by max(), one step back on the key (NOT EXISTS was planned as a scan).
    SELECT s.first_day, s.next_day, w.window_start, l.last_day,
           s.first_day >= w.window_start AND s.next_day >= s.first_day
               AND s.next_day >= coalesce(l.last_day, s.next_day) AS settled
      FROM pgsched.recent_run_totals_starts AS s,
           (SELECT (now() AT TIME ZONE 'UTC')::date - 29 AS window_start) AS w,
           (SELECT max(m.day) AS last_day FROM pgsched.daily_run_totals AS m) AS l
     LIMIT 1
), totals AS (
    SELECT job_name,
           coalesce(r.successful_runs, 0) + coalesce(d.successful_runs, 0) AS successful_runs,
           coalesce(r.failed_runs, 0) + coalesce(d.failed_runs, 0) AS failed_runs,
           coalesce(r.duration_ms_sum, 0) + coalesce(d.duration_ms_sum, 0) AS duration_ms_sum,
           coalesce(r.timed_runs, 0) + coalesce(d.timed_runs, 0) AS timed_runs,
           greatest(r.last_run_at, d.last_run_at) AS last_run_at
      FROM pgsched.recent_run_totals AS r
      FULL JOIN (SELECT a.job_name, a.successful_runs, a.failed_runs, a.duration_ms_sum,
                        a.timed_runs, a.last_run_at
                   FROM pgsched.daily_run_totals AS a
                  WHERE a.day = (SELECT b.next_day FROM bounds AS b)) AS d USING (job_name)
     WHERE (SELECT b.settled FROM bounds AS b)
    UNION ALL
    -- Not settled: one grouping of signed rows, as in v2. The counts are summed as
    -- float8, exact below 2^53 and far cheaper than sum(bigint)'s numeric. The bounds
    -- are joined, not each read by a subquery of its own: half the planning.
    SELECT c.job_name, sum(c.successful_runs)::bigint, sum(c.failed_runs)::bigint,
           sum(c.duration_ms_sum), sum(c.timed_runs)::bigint, max(c.last_run_at)
      FROM bounds AS b
     CROSS JOIN LATERAL (
            SELECT r.job_name, r.successful_runs::float8 AS successful_runs,
                   r.failed_runs::float8 AS failed_runs, r.duration_ms_sum,
                   r.timed_runs::float8 AS timed_runs, r.last_run_at
              FROM pgsched.recent_run_totals AS r
            UNION ALL
            -- The days that left the window since the recent totals last moved.
            SELECT a.job_name, -a.successful_runs::float8, -a.failed_runs::float8,
                   -a.duration_ms_sum, -a.timed_runs::float8, NULL
              FROM pgsched.daily_run_totals AS a
             WHERE a.day >= b.first_day AND a.day < least(b.next_day, b.window_start)
            UNION ALL
            -- The days after them. A range with both ends (bounds the planner cannot
            -- see count as a small share of the table, so the key is read; one end
            -- alone counts as a third, and the whole table was read).
            SELECT a.job_name, a.successful_runs::float8, a.failed_runs::float8,
                   a.duration_ms_sum, a.timed_runs::float8, a.last_run_at
              FROM pgsched.daily_run_totals AS a
             WHERE a.day >= greatest(b.next_day, b.window_start) AND a.day <= b.last_day) AS c
     WHERE NOT b.settled
     GROUP BY c.job_name
)
SELECT t.job_name,
       t.successful_runs,
       t.failed_runs,
       t.successful_runs + t.failed_runs AS total_runs,
       -- round(100.0 * successful / total, 2) in whole hundredths of a percent, rounded
       -- half up in bigint arithmetic, then scaled: the same numeric(scale 2) value
       -- (short of 10^12 runs a job) without numeric division, which was most of the cost.
       ((20000 * t.successful_runs + (t.successful_runs + t.failed_runs))
        / (2 * (t.successful_runs + t.failed_runs))) * 0.01 AS success_rate_percentage,
       t.duration_ms_sum / nullif(t.timed_runs, 0) AS avg_duration_ms,
       t.last_run_at
  FROM totals AS t
 WHERE t.successful_runs + t.failed_runs > 0;

COMMENT ON VIEW pgsched.job_success_rates IS
    'Per job, runs with an outcome whose slot is on one of the last 30 UTC days: successful_runs (succeeded), failed_runs (failed, timed_out, lost), total_runs, success_rate_percentage, avg_duration_ms, last_run_at (latest start).';
