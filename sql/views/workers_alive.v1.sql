-- Workers heartbeating within their lease and not stopped. Their id is what
-- pgsched.runs.worker_id holds.
CREATE VIEW pgsched.workers_alive AS
SELECT w.id, w.host, w.pid, w.queues, w.concurrency, w.started_at, w.last_heartbeat_at,
       w.lease_seconds,
       (SELECT count(*) FROM pgsched.runs AS r
         WHERE r.worker_id = w.id AND r.status = 'running') AS running_runs
  FROM pgsched.workers AS w
 WHERE w.stopped_at IS NULL
   AND w.last_heartbeat_at >= now() - make_interval(secs => w.lease_seconds);

COMMENT ON VIEW pgsched.workers_alive IS
    'Workers that are not stopped and heartbeat within their lease_seconds: id (as in runs.worker_id), host, pid, queues, concurrency, started_at, last_heartbeat_at, running_runs.';
