-- The chaos harness's SQL, one named block each ("-- name: <name>"), in psycopg's
-- %(name)s style. The harness is an outside observer: it reads pgsched's tables and
-- calls the functions an operator would (toggle_job, reap_lost_runs), nothing more.

-- name: register_jobs
-- Every job fires each second (6-field cron, seconds first) with overlap=skip.
INSERT INTO pgsched.jobs (name, schedule, kind, target, args, overlap, max_attempts,
                          retry_delay_seconds, misfire_threshold_seconds, timeout_seconds)
SELECT j.name, '* * * * * *', 'python', j.target, j.args, 'skip', j.max_attempts,
       j.retry_delay_seconds, j.misfire_threshold_seconds, j.timeout_seconds
  FROM jsonb_to_recordset(%(jobs)s::jsonb)
       AS j(name text, target text, args jsonb, max_attempts integer,
            retry_delay_seconds integer, misfire_threshold_seconds integer,
            timeout_seconds integer);

-- name: now
SELECT now();

-- name: live_workers
SELECT count(*) FROM pgsched.workers WHERE stopped_at IS NULL;

-- name: window_start
-- NULL until every enabled job has its first next_run. Each job owes every slot
-- from its first next_run on, and the latest next_run is no earlier than any first.
SELECT max(next_run) FROM pgsched.jobs HAVING count(*) = count(next_run);

-- name: window_end
-- The last slot of the window: the latest whole second already passed.
SELECT date_trunc('second', now());

-- name: jobs_not_past
SELECT count(*) FROM pgsched.jobs WHERE enabled AND next_run <= %(window_end)s;

-- name: worker_holdings
-- Live workers and how many attempts each runs now, busiest first: the pause picks
-- one that holds work, so that there is something to fence off.
SELECT w.id, w.pid, count(r.id) AS running
  FROM pgsched.workers AS w
  LEFT JOIN pgsched.runs AS r ON r.worker_id = w.id AND r.status = 'running'
 WHERE w.stopped_at IS NULL
 GROUP BY w.id, w.pid
 ORDER BY running DESC;

-- name: held_runs
SELECT id FROM pgsched.runs WHERE worker_id = %(worker_id)s AND status = 'running';

-- name: worker_reaped
-- Whether the cluster has declared the worker dead and taken all of the given runs.
SELECT (SELECT stopped_at IS NOT NULL FROM pgsched.workers WHERE id = %(worker_id)s)
       AND NOT EXISTS (SELECT 1 FROM pgsched.runs
                        WHERE id = ANY(%(run_ids)s) AND status = 'running');

-- name: runs_by_id
SELECT id, status, worker_id, finished_at, duration_ms, error, output, fence
  FROM pgsched.runs
 WHERE id = ANY(%(run_ids)s);

-- name: terminate_clients
-- Every client connection to this database but the harness's own.
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
  FROM pg_stat_activity
 WHERE datname = current_database() AND backend_type = 'client backend'
   AND pid <> pg_backend_pid();

-- name: unreaped_runs
-- Attempts still running on a worker that is stopped or silent past its lease.
SELECT count(*)
  FROM pgsched.runs AS r
  LEFT JOIN pgsched.workers AS w ON w.id = r.worker_id
 WHERE r.status = 'running'
   AND (w.id IS NULL OR w.stopped_at IS NOT NULL
        OR w.last_heartbeat_at < now() - make_interval(secs => w.lease_seconds));

-- name: disable_jobs
SELECT count(*) FILTER (WHERE pgsched.toggle_job(name, false, 'chaos harness'))
  FROM pgsched.jobs
 WHERE enabled;

-- name: unsettled_runs
SELECT count(*) FROM pgsched.runs WHERE status IN ('running', 'pending');

-- name: reap_lost_runs
SELECT run_id FROM pgsched.reap_lost_runs();

-- name: audit_jobs
SELECT id, name, schedule, timezone, overlap, max_attempts FROM pgsched.jobs ORDER BY id;

-- name: audit_runs
-- started_at: when the attempt began, or, for one whose start was never recorded (lost
-- with its worker), when it was claimed: the earliest it can have run.
SELECT id, job_id, job_name, scheduled_for, attempt, status, trigger, worker_id,
       coalesce(started_at, claimed_at) AS started_at, finished_at, created_at, available_at,
       duration_ms, error, output, fence,
       missed_until, missed_slots
  FROM pgsched.runs
 ORDER BY id;

-- name: audit_workers
SELECT id, pid, started_at, last_heartbeat_at, stopped_at, lease_seconds FROM pgsched.workers;
