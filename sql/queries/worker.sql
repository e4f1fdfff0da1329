-- The worker's runtime queries, one named block each ("-- name: <name>").
-- Parameters use psycopg's %(name)s style; repository.py runs each block as a
-- prepared statement. Batches arrive as one JSON array of objects (%(rows)s): it
-- costs the client a fraction of what encoding one array per column does. All "what is due" decisions compare against now(), the
-- database clock, never the worker's.

-- name: register_worker
INSERT INTO pgsched.workers (id, host, pid, queues, concurrency, lease_seconds)
VALUES (%(worker_id)s, %(host)s, %(pid)s, %(queues)s, %(concurrency)s, %(lease_seconds)s);

-- name: heartbeat
-- No row back means the cluster declared this worker dead: it must let go of its work.
UPDATE pgsched.workers
   SET last_heartbeat_at = now()
 WHERE id = %(worker_id)s AND stopped_at IS NULL
RETURNING id;

-- name: stop_worker
UPDATE pgsched.workers SET stopped_at = now() WHERE id = %(worker_id)s AND stopped_at IS NULL;

-- name: lock_queue_limits
-- Serialises claims in capped queues cluster-wide; the count runs as the next
-- statement so that it sees what the previous lock holder committed.
SELECT queue FROM pgsched.queue_limits WHERE queue = ANY(%(queues)s) ORDER BY queue FOR UPDATE;

-- name: queue_headroom
SELECT l.queue,
       l.max_running - (SELECT count(*) FROM pgsched.runs AS r
                         WHERE r.status = 'running' AND r.queue = l.queue) AS headroom
  FROM pgsched.queue_limits AS l
 WHERE l.queue = ANY(%(queues)s);

-- name: claim_due_jobs
-- The row lock returns each locked row's newest version; running_run_ids() then
-- reads a snapshot taken after the locks, so the overlap check is never stale.
-- NO KEY UPDATE, not UPDATE: inserting a run takes KEY SHARE on its job for the
-- foreign key, and must not wait for (or deadlock with) a claim holding the job.
-- A worker the cluster has declared dead claims nothing: its worker row, locked
-- FOR SHARE until the claim commits, must not be stopped. A reaper (FOR UPDATE SKIP
-- LOCKED) then passes over it until the claim is recorded and reaps its runs with it;
-- a claim that comes second waits for the reap and sees the worker stopped.
WITH locked AS MATERIALIZED (
        SELECT id, name, schedule, timezone, kind, target, args, timeout_seconds, max_attempts,
               overlap, misfire, misfire_threshold_seconds, queue, priority, next_run,
               checkpoint
          FROM pgsched.jobs
         WHERE enabled
           AND coalesce(next_run, '-infinity'::timestamptz) <= now()
           AND queue = ANY(%(queues)s)
           AND EXISTS (SELECT 1 FROM pgsched.workers AS w
                        WHERE w.id = %(worker_id)s AND w.stopped_at IS NULL
                          FOR SHARE)
         ORDER BY coalesce(next_run, '-infinity'::timestamptz)
         LIMIT %(limit)s
           FOR NO KEY UPDATE SKIP LOCKED
)
SELECT locked.*, pgsched.running_run_ids(locked.id) AS running_run_ids,
       (SELECT count(*) FROM pgsched.runs AS q
         WHERE q.job_id = locked.id AND q.status = 'pending'
           AND q.trigger IN ('schedule', 'catchup'))::integer AS queued_runs,
       now() AS database_now
  FROM locked;

-- name: claim_unscheduled_jobs
-- New or changed jobs (next_run NULL) only need a next_run; taking them in large
-- batches apart from due work keeps a bulk INSERT from delaying jobs that are due.
SELECT id, name, schedule, timezone, kind, target, args, timeout_seconds, max_attempts,
               overlap, misfire, misfire_threshold_seconds, queue, priority, next_run,
               checkpoint,
       '{}'::bigint[] AS running_run_ids, 0 AS queued_runs, now() AS database_now
  FROM pgsched.jobs
 WHERE enabled
   AND coalesce(next_run, '-infinity'::timestamptz) = '-infinity'::timestamptz
   AND queue = ANY(%(queues)s)
 LIMIT %(limit)s
   FOR NO KEY UPDATE SKIP LOCKED;

-- name: start_pending_runs
-- database_now is the runs' started_at (the same transaction): their scheduling lag.
SELECT run_id, fence, job_id, scheduled_for, attempt, run_trigger, now() AS database_now
  FROM pgsched.start_pending_runs(%(worker_id)s, %(queues)s, %(limit)s);

-- name: load_jobs
SELECT id, name, schedule, timezone, kind, target, args, timeout_seconds, max_attempts,
               overlap, misfire, misfire_threshold_seconds, queue, priority, next_run,
               checkpoint
  FROM pgsched.jobs
 WHERE id = ANY(%(job_ids)s);

-- name: insert_planned_runs
-- First attempts of fired slots, skipped slots and gap records. ON CONFLICT makes
-- the unique (job_id, scheduled_for, attempt) the last word on "no slot twice".
INSERT INTO pgsched.runs AS r (job_id, job_name, scheduled_for, attempt, status, trigger,
                               worker_id, started_at, fence, available_at, finished_at,
                               queue, error, missed_until, missed_slots)
SELECT p.job_id, p.job_name, p.scheduled_for, 1, p.status, p.trigger,
       CASE WHEN p.status = 'running' THEN %(worker_id)s END,
       CASE WHEN p.status = 'running' THEN now() END,
       CASE WHEN p.status = 'running' THEN nextval('pgsched.run_fence_seq') END,
       CASE WHEN p.status = 'pending' THEN now() END,
       CASE WHEN p.status = 'skipped' THEN now() END,
       p.queue, p.error, p.missed_until, p.missed_slots
  FROM jsonb_to_recordset(%(rows)s::jsonb)
       AS p(job_id bigint, job_name text, scheduled_for timestamptz, status text, trigger text,
            queue text, error text, missed_until timestamptz, missed_slots integer)
    ON CONFLICT (job_id, scheduled_for, attempt) DO NOTHING
RETURNING r.id, r.job_id, r.scheduled_for, r.status, r.trigger, r.fence;

-- name: advance_jobs
UPDATE pgsched.jobs AS j
   SET next_run = a.next_run, last_error = a.last_error
  FROM jsonb_to_recordset(%(rows)s::jsonb) AS a(job_id bigint, next_run timestamptz,
                                                  last_error text)
 WHERE j.id = a.job_id;

-- name: supersede_retries
-- A retry still waiting when its job's next slot starts would run behind it and
-- pile up under a frequent schedule; it is recorded as superseded instead.
UPDATE pgsched.runs AS r
   SET status = 'skipped', finished_at = now(),
       error = format('superseded: the slot %%s started before this retry did',
                      to_char(s.started_slot AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
  FROM unnest(%(job_ids)s::bigint[], %(started_slots)s::timestamptz[]) AS s(job_id, started_slot)
 WHERE r.job_id = s.job_id AND r.status = 'pending' AND r.trigger = 'retry'
   AND r.scheduled_for < s.started_slot;

-- name: cancel_replaced_runs
-- The workers running them hear the NOTIFY (sent at commit) and stop the work.
WITH cancelled AS (
    UPDATE pgsched.runs
       SET status = 'cancelled', finished_at = now(),
           duration_ms = extract(epoch FROM now() - started_at) * 1000,
           error = 'cancelled by overlap=replace: a newer slot of the job started'
     WHERE id = ANY(%(run_ids)s) AND status = 'running'
    RETURNING id
)
SELECT array_agg(id) AS run_ids,
       pg_notify('pgsched_cancel', string_agg(id::text, ',')) AS notified
  FROM cancelled
HAVING count(*) > 0;

-- name: next_due_in
-- Seconds from now until something may be due for these queues (<= 0: now; NULL:
-- nothing at all), and whether jobs wait for their first next_run.
SELECT extract(epoch FROM
           (SELECT greatest(min(coalesce(next_run, '-infinity'::timestamptz)),
                            now() - interval '1 hour')
              FROM pgsched.jobs
             WHERE enabled AND queue = ANY(%(queues)s)
            HAVING count(*) > 0) - now())::float8 AS jobs_due_in,
       extract(epoch FROM
           (SELECT greatest(r.available_at, now() - interval '1 hour')
              FROM pgsched.runs AS r
             WHERE r.status = 'pending'
               AND (SELECT j.queue = ANY(%(queues)s) FROM pgsched.jobs AS j
                     WHERE j.id = r.job_id)
             ORDER BY r.available_at
             LIMIT 1) - now())::float8 AS pending_due_in,
       EXISTS (SELECT 1 FROM pgsched.jobs
                WHERE enabled AND queue = ANY(%(queues)s)
                  AND coalesce(next_run, '-infinity'::timestamptz) = '-infinity'::timestamptz)
           AS unscheduled;

-- name: queue_limits
SELECT queue FROM pgsched.queue_limits WHERE queue = ANY(%(queues)s);

-- name: finish_runs
-- Records outcomes only where the run still carries the claim's fence and is
-- running; everything else was taken from this worker and is dropped. Failed
-- attempts with attempts left get their retry in the same statement.
-- An attempt interrupted by a worker shutdown (status lost) did not fail: it is
-- retried at once, and may go up to two attempts past max_attempts.
WITH outcome AS (
    SELECT *
      FROM jsonb_to_recordset(%(rows)s::jsonb)
           AS o(run_id bigint, fence bigint, status text, error text, output text,
                duration_ms float8, retryable boolean)
), finished AS (
    UPDATE pgsched.runs AS r
       SET status = o.status, finished_at = now(), duration_ms = o.duration_ms,
           error = o.error, output = o.output
      FROM outcome AS o
     WHERE r.id = o.run_id AND r.fence = o.fence AND r.status = 'running'
    RETURNING r.id, r.job_id, r.job_name, r.scheduled_for, r.attempt, r.queue, r.status,
              o.retryable
), retried AS (
    INSERT INTO pgsched.runs AS n (job_id, job_name, scheduled_for, attempt, status, trigger,
                                   available_at, queue)
    SELECT f.job_id, f.job_name, f.scheduled_for, f.attempt + 1, 'pending', 'retry',
           CASE WHEN f.status = 'lost' THEN now()
                ELSE now() + pgsched.retry_delay(j.retry_delay_seconds, f.attempt) END,
           f.queue
      FROM finished AS f JOIN pgsched.jobs AS j ON j.id = f.job_id
     WHERE f.retryable AND f.status IN ('failed', 'timed_out', 'lost')
       AND f.attempt < j.max_attempts + CASE WHEN f.status = 'lost' THEN 2 ELSE 0 END
    ON CONFLICT (job_id, scheduled_for, attempt) DO NOTHING
    RETURNING n.id, n.job_id, n.scheduled_for, n.available_at
)
SELECT f.id, t.id AS retry_run_id, t.available_at AS retry_at
  FROM finished AS f
  LEFT JOIN retried AS t ON t.job_id = f.job_id AND t.scheduled_for = f.scheduled_for;

-- name: save_checkpoint
-- The share lock keeps the reaper from taking the run away between check and write.
WITH holder AS (
    SELECT id FROM pgsched.runs
     WHERE id = %(run_id)s AND fence = %(fence)s AND status = 'running'
       FOR SHARE
)
UPDATE pgsched.jobs
   SET checkpoint = %(checkpoint)s
 WHERE id = %(job_id)s AND EXISTS (SELECT 1 FROM holder)
RETURNING id;

-- name: runs_taken_away
-- Of the attempts this worker believes it runs, those no longer running under its fence.
SELECT h.run_id
  FROM unnest(%(run_ids)s::bigint[], %(fences)s::bigint[]) AS h(run_id, fence)
 WHERE NOT EXISTS (SELECT 1 FROM pgsched.runs AS r
                    WHERE r.id = h.run_id AND r.fence = h.fence AND r.status = 'running');

-- name: reap_lost_runs
-- The joins read each run as this statement's snapshot saw it, before the function
-- marked it lost: its attempt, slot and start are what the logs and hooks report.
SELECT l.run_id, l.job_name, l.worker_id, l.retry_run_id, r.attempt, r.scheduled_for,
       extract(epoch FROM now() - r.started_at)::float8 * 1000 AS duration_ms, j.max_attempts
  FROM pgsched.reap_lost_runs(%(worker_id)s) AS l
  LEFT JOIN pgsched.runs AS r ON r.id = l.run_id
  LEFT JOIN pgsched.jobs AS j ON j.id = r.job_id;

-- name: release_unstarted_runs
-- Runs recorded as started by this worker that it does not hold: the claim
-- committed but its answer never arrived (a connection lost at COMMIT). They never
-- ran; they are recorded lost and retried at once, like a shutdown interruption.
WITH released AS (
    UPDATE pgsched.runs AS r
       SET status = 'lost', finished_at = now(), duration_ms = 0,
           error = 'claimed, but the claim''s answer never reached the worker; never started'
     WHERE r.worker_id = %(worker_id)s AND r.status = 'running'
       AND r.started_at < now() - make_interval(secs => %(older_than_seconds)s)
       AND NOT r.id = ANY(%(held_run_ids)s)
    RETURNING r.id, r.job_id, r.job_name, r.scheduled_for, r.attempt, r.queue, r.worker_id,
              r.error
), retried AS (
    INSERT INTO pgsched.runs AS n (job_id, job_name, scheduled_for, attempt, status, trigger,
                                   available_at, queue)
    SELECT l.job_id, l.job_name, l.scheduled_for, l.attempt + 1, 'pending', 'retry', now(),
           l.queue
      FROM released AS l JOIN pgsched.jobs AS j ON j.id = l.job_id
     WHERE l.attempt < j.max_attempts + 2
    ON CONFLICT (job_id, scheduled_for, attempt) DO NOTHING
    RETURNING n.id, n.job_id, n.scheduled_for
)
SELECT l.id, l.job_name, l.worker_id, l.attempt, l.scheduled_for, l.error,
       0::float8 AS duration_ms, j.max_attempts, t.id AS retry_run_id
  FROM released AS l
  LEFT JOIN pgsched.jobs AS j ON j.id = l.job_id
  LEFT JOIN retried AS t ON t.job_id = l.job_id AND t.scheduled_for = l.scheduled_for;

-- name: retire_orphan_runs
SELECT pgsched.retire_orphan_runs();
