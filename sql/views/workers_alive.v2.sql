-- Workers heartbeating within their lease and not stopped. Their id is what
-- pgsched.runs.worker_id holds.
-- v2: judged at now() minus pgsched.replica_lag(): on a replica behind its primary, a
-- heartbeat not replayed yet does not make a live worker look dead. The lag is shown
-- (replica_lag_seconds, 0 on a primary).
CREATE OR REPLACE VIEW pgsched.workers_alive AS
WITH seen AS MATERIALIZED (
    SELECT pgsched.replica_lag() AS lag
)
SELECT w.id, w.host, w.pid, w.queues, w.concurrency, w.started_at, w.last_heartbeat_at,
       w.lease_seconds,
       (SELECT count(*) FROM pgsched.runs AS r
         WHERE r.worker_id = w.id AND r.status = 'running') AS running_runs,
       extract(epoch FROM seen.lag)::double precision AS replica_lag_seconds
  FROM pgsched.workers AS w, seen
 WHERE w.stopped_at IS NULL
   AND w.last_heartbeat_at >= now() - seen.lag - make_interval(secs => w.lease_seconds);

COMMENT ON VIEW pgsched.workers_alive IS
    'Workers that are not stopped and heartbeat within their lease_seconds: id (as in runs.worker_id), host, pid, queues, concurrency, started_at, last_heartbeat_at, running_runs; judged at now() minus replica_lag_seconds (0 on a primary).';
