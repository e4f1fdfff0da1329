-- Attempts running now, with how long they have run and the worker running them.
-- worker_alive is false for a worker silent past its lease: the next reap will
-- record its attempts as lost.
-- v2: a worker records when an attempt began (started_at) with its outcome, so a
-- running attempt shows claimed_at, when its worker took it; its duration runs from
-- started_at once known, else from the claim.
-- v3: durations and liveness as of now() minus pgsched.replica_lag() (shown as
-- replica_lag_seconds), so that a replica behind its primary shows neither attempts
-- running longer than they have nor live workers as dead.
-- v4: the job's warn_after_seconds and over_warning: the attempt has run longer than
-- that (NULL warn_after_seconds: never flagged).
CREATE OR REPLACE VIEW pgsched.running_runs AS
WITH seen AS MATERIALIZED (
    SELECT now() - pgsched.replica_lag() AS at
)
SELECT r.id, r.job_id, r.job_name, r.scheduled_for, r.attempt, r.trigger, r.queue,
       r.started_at,
       round(extract(epoch FROM seen.at - coalesce(r.started_at, r.claimed_at)), 3)
           AS running_duration_seconds,
       j.timeout_seconds,
       r.worker_id, w.host AS worker_host, w.pid AS worker_pid,
       (w.stopped_at IS NULL
        AND w.last_heartbeat_at >= seen.at - make_interval(secs => w.lease_seconds)) AS worker_alive,
       r.claimed_at,
       extract(epoch FROM now() - seen.at)::double precision AS replica_lag_seconds,
       j.warn_after_seconds,
       coalesce(seen.at - coalesce(r.started_at, r.claimed_at)
                    > make_interval(secs => j.warn_after_seconds), false) AS over_warning
  FROM pgsched.runs AS r
  CROSS JOIN seen
  LEFT JOIN pgsched.jobs AS j ON j.id = r.job_id
  LEFT JOIN pgsched.workers AS w ON w.id = r.worker_id
 WHERE r.status = 'running';

COMMENT ON VIEW pgsched.running_runs IS
    'Runs in progress: claimed_at (when the worker took it), running_duration_seconds since the claim, the job''s timeout_seconds, and the worker (id, host, pid, whether it still heartbeats); as of now() minus replica_lag_seconds (0 on a primary); over_warning: running longer than the job''s warn_after_seconds. started_at is recorded with the outcome.';
