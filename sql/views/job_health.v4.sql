-- One row per job, for a dashboard as is: its schedule, whether it is enabled, its
-- next run, its latest run and that run's status, its success rate (as in
-- pgsched.job_success_rates: outcomes of the last 30 UTC days), a health word and
-- how late it starts.
--
--   health   healthy  success rate >= 95 %
--            degraded 80 % to under 95 %
--            failing  under 80 %
--            idle     no run with an outcome in the window
--
-- p95_lag_ms is the 95th percentile (interpolated) of started_at - scheduled_for
-- over the job's scheduled first attempts of the last 24 hours, the latest 1,000 of
-- them (v4): how late it starts now, not a month ago. last_error is what a worker
-- found wrong with the job.
--
-- v2 appends the job's circuit breaker (NULL columns for a job without one):
-- breaker_state closed, open (its slots are recorded skipped until
-- breaker_open_until) or half_open (one probe slot runs); breaker_failed_slots, the
-- final failures of slots in a row so far.
--
-- v3: the latest run is that of the latest slot, as pgsched.job_slot_outcomes ends
-- it: each shard ends as its latest attempt did, and the slot takes the status of
-- the shard that matters most (running, pending, a failure, cancelled, skipped,
-- succeeded only when every shard did); last_run_id, last_run_started_at are that
-- shard's attempt. An unsharded job's latest run is its latest attempt, as before.
-- Per job: one backward step on the runs' key to the latest slot, then that slot's
-- range of it (one entry per shard and attempt).
--
-- v4: the same columns and words at any number of jobs and runs.
--   * The success rates are read beside the jobs, not as pgsched.job_success_rates
--     over every job first: once the day's roll has run (settled, as that view says),
--     a job's figures are its row of recent_run_totals plus its row of next_day in
--     daily_run_totals, joined by name, so the view can be read in name order
--     through the three keys and stop early (the dashboard's health filter, a page
--     of names); v3 totalled and sorted every job's rates first (1.7 s at 1,000,000
--     jobs). Not settled (minutes after midnight, a slot of a day ahead), each job's
--     row of pgsched.job_success_rates is read instead, by its name.
--   * p95_lag_ms reads at most the job's latest 1,000 scheduled first attempts of
--     the 24 hours (one backward step on the runs' key each): the same figure for a
--     job that fires at most 1,000 times a day, the last 1,000 slots (17 minutes)
--     for an every-second job, whose day of 86,400 rows v3 read at every look.
CREATE OR REPLACE VIEW pgsched.job_health AS
SELECT j.name AS job_name,
       j.enabled,
       j.schedule,
       j.timezone,
       j.queue,
       j.next_run,
       last_run.id AS last_run_id,
       last_run.scheduled_for AS last_run_scheduled_for,
       last_run.started_at AS last_run_started_at,
       last_run.status AS last_run_status,
       rates.total_runs,
       rates.success_rate_percentage,
       CASE
           WHEN rates.total_runs = 0 THEN 'idle'
           WHEN rates.success_rate_percentage >= 95 THEN 'healthy'
           WHEN rates.success_rate_percentage >= 80 THEN 'degraded'
           ELSE 'failing'
       END AS health,
       rates.avg_duration_ms,
       lag.p95_lag_ms,
       j.last_error,
       CASE WHEN j.breaker_failures IS NOT NULL THEN coalesce(b.state, 'closed') END
           AS breaker_state,
       CASE WHEN j.breaker_failures IS NOT NULL THEN coalesce(b.failed_slots, 0) END
           AS breaker_failed_slots,
       CASE WHEN j.breaker_failures IS NOT NULL AND b.state = 'open' THEN b.open_until END
           AS breaker_open_until
  FROM pgsched.jobs AS j
  LEFT JOIN pgsched.job_breakers AS b ON b.job_id = j.id
  -- Settled: the job's recent row and its row of next_day. Each test below is one
  -- scalar subquery run once per query (an InitPlan), job_success_rates' bounds.
  LEFT JOIN pgsched.recent_run_totals AS r
         ON r.job_name = j.name
        AND (SELECT s.first_day >= (now() AT TIME ZONE 'UTC')::date - 29
                    AND s.next_day = (now() AT TIME ZONE 'UTC')::date
                    AND s.next_day >= coalesce((SELECT max(m.day) FROM pgsched.daily_run_totals AS m),
                                               s.next_day)
               FROM pgsched.recent_run_totals_starts AS s LIMIT 1)
  -- Today's row looked up by its key for each job (OFFSET 0 keeps it so): below the
  -- outer join, the planner does not take the key (day, job_name) for name order
  -- with day fixed, and merged through the whole (job_name, day) key instead, every
  -- day of every job (9 s at 1,000,000 jobs when no job has the word).
  LEFT JOIN LATERAL (
        SELECT a.successful_runs, a.failed_runs, a.duration_ms_sum, a.timed_runs
          FROM pgsched.daily_run_totals AS a
         WHERE a.day = (now() AT TIME ZONE 'UTC')::date AND a.job_name = j.name
        OFFSET 0) AS d
         ON (SELECT s.first_day >= (now() AT TIME ZONE 'UTC')::date - 29
                    AND s.next_day = (now() AT TIME ZONE 'UTC')::date
                    AND s.next_day >= coalesce((SELECT max(m.day) FROM pgsched.daily_run_totals AS m),
                                               s.next_day)
               FROM pgsched.recent_run_totals_starts AS s LIMIT 1)
  -- Not settled: the job's row of the view, found by its name.
  LEFT JOIN LATERAL (
        SELECT x.total_runs, x.success_rate_percentage, x.avg_duration_ms
          FROM pgsched.job_success_rates AS x
         WHERE x.job_name = j.name
           AND NOT (SELECT s.first_day >= (now() AT TIME ZONE 'UTC')::date - 29
                           AND s.next_day = (now() AT TIME ZONE 'UTC')::date
                           AND s.next_day >= coalesce((SELECT max(m.day)
                                                         FROM pgsched.daily_run_totals AS m),
                                                      s.next_day)
                      FROM pgsched.recent_run_totals_starts AS s LIMIT 1)
        OFFSET 0) AS x ON true
  -- As job_success_rates words them: the rate rounded half up in bigint arithmetic.
  CROSS JOIN LATERAL (
        SELECT coalesce(x.total_runs, t.runs) AS total_runs,
               CASE WHEN x.total_runs IS NOT NULL THEN x.success_rate_percentage
                    WHEN t.runs > 0 THEN ((20000 * t.successes + t.runs) / (2 * t.runs)) * 0.01
               END AS success_rate_percentage,
               CASE WHEN x.total_runs IS NOT NULL THEN x.avg_duration_ms
                    WHEN t.runs > 0 THEN t.duration_ms_sum / nullif(t.timed_runs, 0)
               END AS avg_duration_ms
          FROM (SELECT coalesce(r.successful_runs, 0) + coalesce(d.successful_runs, 0) AS successes,
                       coalesce(r.successful_runs, 0) + coalesce(d.successful_runs, 0)
                           + coalesce(r.failed_runs, 0) + coalesce(d.failed_runs, 0) AS runs,
                       coalesce(r.duration_ms_sum, 0) + coalesce(d.duration_ms_sum, 0)
                           AS duration_ms_sum,
                       coalesce(r.timed_runs, 0) + coalesce(d.timed_runs, 0) AS timed_runs) AS t
        ) AS rates
  LEFT JOIN LATERAL (
        SELECT w.id, w.scheduled_for, w.started_at, w.status
          FROM (SELECT r.scheduled_for
                  FROM pgsched.runs AS r
                 WHERE r.job_id = j.id
                 ORDER BY r.scheduled_for DESC
                 LIMIT 1) AS slot
         CROSS JOIN LATERAL (
                SELECT DISTINCT ON (x.shard) x.id, x.scheduled_for, x.started_at, x.status, x.shard
                  FROM pgsched.runs AS x
                 WHERE x.job_id = j.id AND x.scheduled_for = slot.scheduled_for
                 ORDER BY x.shard, x.attempt DESC) AS w
         -- The shard whose status is the slot's, ranked as in job_slot_outcomes.
         ORDER BY CASE w.status WHEN 'running' THEN 1
                                WHEN 'pending' THEN 2
                                WHEN 'cancelled' THEN 4
                                WHEN 'skipped' THEN 5
                                WHEN 'succeeded' THEN 6
                                ELSE 3 END,
                  w.shard
         LIMIT 1) AS last_run ON true
  LEFT JOIN LATERAL (
        SELECT percentile_cont(0.95) WITHIN GROUP (
                   ORDER BY extract(epoch FROM l.started_at - l.scheduled_for)::double precision * 1000)
                   AS p95_lag_ms
          FROM (SELECT r.started_at, r.scheduled_for
                  FROM pgsched.runs AS r
                 WHERE r.job_id = j.id AND r.scheduled_for >= now() - interval '24 hours'
                   AND r.attempt = 1 AND r.trigger = 'schedule' AND r.started_at IS NOT NULL
                 ORDER BY r.scheduled_for DESC
                 LIMIT 1000) AS l
        OFFSET 0) AS lag ON true;

COMMENT ON VIEW pgsched.job_health IS
    'Per job: schedule, enabled, next_run, latest slot''s outcome (last_run_status, every shard counted), total_runs and success_rate_percentage (last 30 UTC days), health (healthy >= 95 %, degraded >= 80 %, failing < 80 %, idle without runs), avg_duration_ms, p95_lag_ms (the latest 1,000 scheduled first attempts of the last 24 h), last_error, breaker_state (closed, open, half_open; NULL without a breaker), breaker_failed_slots, breaker_open_until.';
