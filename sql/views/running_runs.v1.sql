-- Attempts running now, with how long they have run and the worker running them.
-- worker_alive is false for a worker silent past its lease: the next reap will
-- record its attempts as lost.
CREATE VIEW pgsched.running_runs AS
SELECT r.id, r.job_id, r.job_name, r.scheduled_for, r.attempt, r.trigger, r.queue,
       r.started_at,
       round(extract(epoch FROM now() - r.started_at), 3) AS running_duration_seconds,
       j.timeout_seconds,
       r.worker_id, w.host AS worker_host, w.pid AS worker_pid,
       (w.stopped_at IS NULL
        AND w.last_heartbeat_at >= now() - make_interval(secs => w.lease_seconds)) AS worker_alive
  FROM pgsched.runs AS r
  LEFT JOIN pgsched.jobs AS j ON j.id = r.job_id
  LEFT JOIN pgsched.workers AS w ON w.id = r.worker_id
 WHERE r.status = 'running';

COMMENT ON VIEW pgsched.running_runs IS
    'Runs in progress: running_duration_seconds since started_at, the job''s timeout_seconds, and the worker (id, host, pid, whether it still heartbeats).';
