-- Queries of the maintenance commands: cleanup, reap, validate, doctor. Parameters
-- use psycopg's %(name)s style, which reads a percent sign even in a comment inside
-- a block: write "percent".

-- name: maintenance_cleanup
SELECT pgsched.cleanup_runs(%(older_than_days)s::integer) AS removed_runs,
       pgsched.cleanup_workers(%(older_than_days)s::integer) AS removed_workers;

-- name: maintenance_reap_lost_runs
-- The caller is NULL: a worker names itself so that it is never reaped by its own
-- call, but the CLI is no worker, so every worker silent past its lease is reaped.
-- A lost attempt with no retry is its slot's final failure: circuit breakers count
-- it here as in the workers' own reap (sql/queries/worker.sql).
WITH reaped AS MATERIALIZED (
    SELECT l.run_id, l.job_name, l.worker_id, l.retry_run_id, r.job_id, r.scheduled_for,
           r.trigger, j.breaker_failures
      FROM pgsched.reap_lost_runs(NULL) AS l
      LEFT JOIN pgsched.runs AS r ON r.id = l.run_id
      LEFT JOIN pgsched.jobs AS j ON j.id = r.job_id
), breaker AS (
    SELECT b.*
      FROM (SELECT jsonb_agg(jsonb_build_object(
                       'run_id', l.run_id, 'job_id', l.job_id, 'scheduled_for', l.scheduled_for,
                       'failed', true, 'manual', l.trigger = 'manual')) AS outcomes
              FROM reaped AS l
             WHERE l.breaker_failures IS NOT NULL AND l.retry_run_id IS NULL
            HAVING count(*) > 0) AS s
     CROSS JOIN LATERAL pgsched.breaker_record(s.outcomes) AS b
)
SELECT l.run_id, l.job_name, l.worker_id, l.retry_run_id, b.transition AS breaker_transition
  FROM reaped AS l
  LEFT JOIN breaker AS b ON b.run_id = l.run_id;

-- name: maintenance_jobs_to_validate
-- args_error is the check the database makes at INSERT, so validate and the
-- trigger never disagree about a job's args.
SELECT j.name, j.enabled, j.schedule, j.timezone, j.kind, j.target, j.args,
       pgsched.job_args_error(j.kind, j.args) AS args_error, j.last_error
  FROM pgsched.jobs AS j
 ORDER BY j.name;

-- name: doctor_server
-- clock_timestamp(), not now(): the time when the server answers, not when the
-- transaction began.
SELECT current_setting('server_version') AS server_version,
       clock_timestamp() AS database_time;

-- name: doctor_workers
-- Dead as workers_alive judges it: at now() minus the replica lag (0 on a primary).
SELECT (SELECT count(*) FROM pgsched.workers_alive) AS alive,
       (SELECT count(*) FROM pgsched.workers AS w
         WHERE w.stopped_at IS NULL
           AND w.last_heartbeat_at
               < now() - pgsched.replica_lag() - make_interval(secs => w.lease_seconds)) AS dead,
       (SELECT count(*) FROM pgsched.jobs AS j WHERE j.enabled) AS enabled_jobs;

-- name: doctor_overdue_runs
-- A worker stops an attempt at its timeout; one still running well past it is stuck,
-- or its worker is gone. Attempts of deleted jobs have no timeout to compare with.
-- In bigint: a job may have the largest timeout an int holds.
SELECT id, job_name, worker_id, running_duration_seconds, timeout_seconds, worker_alive
  FROM pgsched.running_runs
 WHERE running_duration_seconds > timeout_seconds::bigint + %(grace_seconds)s::integer
 ORDER BY started_at;

-- name: doctor_stopped_jobs
SELECT job_name, kind, reason
  FROM pgsched.missed_runs
 WHERE kind IN ('overdue', 'unscheduled', 'invalid')
 ORDER BY job_name;

-- name: doctor_failing_jobs
-- job_health's "failing" rates, read from job_success_rates as job_health reads
-- them, without job_health's two index probes per job.
SELECT r.job_name, r.success_rate_percentage
  FROM pgsched.job_success_rates AS r
  JOIN pgsched.jobs AS j ON j.name = r.job_name
 WHERE r.success_rate_percentage < %(failing_below_percent)s::numeric
 ORDER BY r.success_rate_percentage, r.job_name;

-- name: doctor_scheduler_lag
SELECT runs, p50_ms, p95_ms, p99_ms, max_ms
  FROM pgsched.scheduler_lag(%(minutes)s::integer)
 WHERE queue IS NULL;

-- name: doctor_replica
-- On the read URL. pg_stat_wal_receiver shows its status to privileged logins only.
SELECT pg_is_in_recovery() AS in_recovery,
       extract(epoch FROM pgsched.replica_lag())::double precision AS lag_seconds,
       (SELECT status FROM pg_stat_wal_receiver) AS receiver_status;
