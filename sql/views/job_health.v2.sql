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
-- over the job's scheduled first attempts of the last 24 hours: how late it starts
-- now, not a month ago. last_error is what a worker found wrong with the job.
--
-- v2 appends the job's circuit breaker (NULL columns for a job without one):
-- breaker_state closed, open (its slots are recorded skipped until
-- breaker_open_until) or half_open (one probe slot runs); breaker_failed_slots, the
-- final failures of slots in a row so far.
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
       coalesce(rates.total_runs, 0) AS total_runs,
       rates.success_rate_percentage,
       CASE
           WHEN rates.total_runs IS NULL THEN 'idle'
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
  LEFT JOIN pgsched.job_success_rates AS rates ON rates.job_name = j.name
  LEFT JOIN LATERAL (
        SELECT r.id, r.scheduled_for, r.started_at, r.status
          FROM pgsched.runs AS r
         WHERE r.job_id = j.id
         ORDER BY r.scheduled_for DESC, r.attempt DESC
         LIMIT 1) AS last_run ON true
  LEFT JOIN LATERAL (
        SELECT percentile_cont(0.95) WITHIN GROUP (
                   ORDER BY extract(epoch FROM r.started_at - r.scheduled_for)::double precision * 1000)
                   AS p95_lag_ms
          FROM pgsched.runs AS r
         WHERE r.job_id = j.id AND r.scheduled_for >= now() - interval '24 hours'
           AND r.attempt = 1 AND r.trigger = 'schedule' AND r.started_at IS NOT NULL
        OFFSET 0) AS lag ON true;

COMMENT ON VIEW pgsched.job_health IS
    'Per job: schedule, enabled, next_run, latest run and its status, total_runs and success_rate_percentage (last 30 UTC days), health (healthy >= 95 %, degraded >= 80 %, failing < 80 %, idle without runs), avg_duration_ms, p95_lag_ms (last 24 h), last_error, breaker_state (closed, open, half_open; NULL without a breaker), breaker_failed_slots, breaker_open_until.';
