-- Queries of the history commands: runs, stats, timeline, workers. Parameters use
-- psycopg's %(name)s style; an optional filter is a parameter that may be NULL.
-- Windows are over the slot (scheduled_for), as in the monitoring views.

-- name: history_job_known
SELECT pgsched.job_known(%(job)s) AS known;

-- name: history_runs
-- Newest first by id (the order runs were recorded in), read backwards from the
-- primary key. A relative --since counts back from the database clock.
SELECT r.id, r.job_name, r.scheduled_for, r.shard, r.attempt, r.status, r.trigger,
       r.worker_id, r.started_at, r.duration_ms, split_part(r.error, E'\n', 1) AS error
  FROM pgsched.runs AS r
 WHERE (%(status)s::text IS NULL OR r.status = %(status)s::text)
   AND r.scheduled_for >= coalesce(%(since_at)s::timestamptz,
                                   now() - make_interval(secs => %(since_seconds)s::integer),
                                   '-infinity')
 ORDER BY r.id DESC
 LIMIT %(limit)s::integer;

-- name: history_job_runs
-- As history_runs, for one job: job_runs follows it by id (so its history survives
-- a rename) and reads only its runs.
SELECT r.id, r.job_name, r.scheduled_for, r.shard, r.attempt, r.status, r.trigger,
       r.worker_id, r.started_at, r.duration_ms, split_part(r.error, E'\n', 1) AS error
  FROM pgsched.job_runs(%(job)s::text,
                        coalesce(%(since_at)s::timestamptz,
                                 now() - make_interval(secs => %(since_seconds)s::integer),
                                 '-infinity')) AS r
 WHERE (%(status)s::text IS NULL OR r.status = %(status)s::text)
 ORDER BY r.id DESC
 LIMIT %(limit)s::integer;

-- name: history_job_stats
SELECT %(job)s::text AS job_name, s.total_runs, s.successful_runs, s.failed_runs,
       s.success_rate, s.avg_duration_ms, s.min_duration_ms, s.max_duration_ms,
       s.p95_duration_ms, s.last_run_at, s.last_success_at, s.last_failure_at
  FROM pgsched.job_stats(%(job)s::text, %(days)s::integer) AS s;

-- name: history_success_rates
SELECT job_name, successful_runs, failed_runs, total_runs, success_rate_percentage,
       avg_duration_ms, last_run_at
  FROM pgsched.job_success_rates
 ORDER BY job_name;

-- name: history_job_timeline
SELECT time_bucket, executions, successes, failures, avg_duration_ms
  FROM pgsched.job_timeline(%(job)s::text, %(hours)s::integer);

-- name: history_workers_alive
-- From the view alone, so that pgsched_reader may list them. Ages are as of the
-- primary's clock as this server has seen it (replica_lag_seconds: 0 on a primary).
SELECT a.id, a.host, a.pid, a.queues, a.concurrency, 'alive' AS state, a.running_runs,
       round(extract(epoch FROM now() - make_interval(secs => a.replica_lag_seconds)
                                - a.last_heartbeat_at), 1) AS heartbeat_age_seconds,
       a.lease_seconds, a.last_heartbeat_at, a.started_at, NULL::timestamptz AS stopped_at,
       a.replica_lag_seconds
  FROM pgsched.workers_alive AS a
 ORDER BY a.started_at DESC, a.id;

-- name: history_workers_all
-- Alive is what pgsched.workers_alive says. The rest are dead:
-- silent past their lease and not reaped yet, so their attempts still show as
-- running; or stopped: they stopped cleanly, or a reap recorded them as gone.
WITH seen AS MATERIALIZED (
    SELECT pgsched.replica_lag() AS lag
)
SELECT w.id, w.host, w.pid, w.queues, w.concurrency,
       CASE WHEN a.id IS NOT NULL THEN 'alive'
            WHEN w.stopped_at IS NULL THEN 'dead'
            ELSE 'stopped' END AS state,
       (SELECT count(*) FROM pgsched.runs AS r
         WHERE r.worker_id = w.id AND r.status = 'running') AS running_runs,
       round(extract(epoch FROM now() - seen.lag - w.last_heartbeat_at), 1)
           AS heartbeat_age_seconds,
       w.lease_seconds, w.last_heartbeat_at, w.started_at, w.stopped_at,
       extract(epoch FROM seen.lag)::double precision AS replica_lag_seconds
  FROM pgsched.workers AS w
  CROSS JOIN seen
  LEFT JOIN pgsched.workers_alive AS a ON a.id = w.id
 ORDER BY a.id IS NULL, w.stopped_at DESC NULLS FIRST, w.started_at DESC, w.id;

-- name: history_replica_lag
-- How far the data read here trails its primary, in seconds (0 on a primary), and
-- whether this server is a standby at all: one caught up with what it received shows
-- lag 0 too, and the dashboard still says its data comes from a replica.
SELECT extract(epoch FROM pgsched.replica_lag())::double precision AS lag_seconds,
       pg_is_in_recovery() AS in_recovery;
