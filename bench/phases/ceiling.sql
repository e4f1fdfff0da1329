-- pgbench script of the raw SQL ceiling (bench/ceiling.py): per transaction, the
-- writes a worker makes for one batch of 100 runs, without Python in between.
-- Claim: lock 100 due jobs (the lock_due_jobs shape), insert their runs as running
-- with a fence, advance the jobs (to now(), so they stay due, at the back of the line).
BEGIN;
SELECT array_agg(id) AS job_ids
  FROM (SELECT id
          FROM pgsched.jobs
         WHERE enabled
           AND coalesce(next_run, '-infinity'::timestamptz) <= now()
           AND queue = ANY('{default}'::text[])
         ORDER BY coalesce(next_run, '-infinity'::timestamptz)
         LIMIT 100
           FOR UPDATE SKIP LOCKED) AS due \gset
INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, attempt, status, trigger,
                          worker_id, started_at, fence, queue)
SELECT j.id, j.name, now(), 1, 'running', 'schedule', 'bench-' || :client_id::text, now(),
       nextval('pgsched.run_fence_seq'), j.queue
  FROM pgsched.jobs AS j
 WHERE j.id = ANY(:job_ids::bigint[]);
UPDATE pgsched.jobs SET next_run = now() WHERE id = ANY(:job_ids::bigint[]);
COMMIT;
-- Finish: record 100 of this client's running runs as succeeded, in one statement.
UPDATE pgsched.runs AS r
   SET status = 'succeeded', finished_at = now(), duration_ms = 1
  FROM (SELECT id FROM pgsched.runs
         WHERE status = 'running' AND worker_id = 'bench-' || :client_id::text
         ORDER BY id
         LIMIT 100) AS done
 WHERE r.id = done.id;
