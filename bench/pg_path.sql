-- pgbench script (bench/README.md, "Round 7: database"): the statements of one claim
-- and one finish as pgsched's worker sends them in the throughput shape under backlog,
-- for 65 every-second jobs: lock the due jobs, insert a running run and a compact skip
-- record per job in one INSERT ... ON CONFLICT (insert_planned_runs_plain's columns),
-- advance the jobs by unnest, then record this client's running runs succeeded. No
-- Python: it compares schema changes by PostgreSQL's CPU and buffers per run. Run on a
-- copy of a database `python -m bench.profile --keep-database` left, after
-- `UPDATE pgsched.jobs SET next_run = now()`:
--   pgbench -n -M extended -c 2 -T 12 -f bench/pg_path.sql DBNAME
BEGIN;
SELECT array_agg(id) AS ids, array_agg(name) AS names, array_agg(queue) AS queues,
       array_agg(s) AS slots, array_agg(s + interval '1 second') AS skips
  FROM (SELECT id, name, queue, clock_timestamp() AS s FROM pgsched.jobs
         WHERE enabled AND queue = 'default' AND coalesce(next_run, '-infinity'::timestamptz) <= now()
         ORDER BY coalesce(next_run, '-infinity'::timestamptz) LIMIT 65
           FOR NO KEY UPDATE SKIP LOCKED) AS due \gset
INSERT INTO pgsched.runs AS r (job_id, job_name, scheduled_for, shard, attempt, status, trigger,
                               worker_id, claimed_at, fence, available_at, finished_at,
                               queue, error, missed_until, missed_slots)
SELECT p.job_id, p.job_name, p.scheduled_for, 0, 1, p.status, 'schedule',
       CASE WHEN p.status = 'running' THEN 'w' || :client_id END,
       CASE WHEN p.status = 'running' THEN now() END,
       CASE WHEN p.status = 'running' THEN nextval('pgsched.run_fence_seq') END,
       NULL, CASE WHEN p.status = 'skipped' THEN now() END,
       p.queue, p.error, p.missed_until, p.missed_slots
  FROM (SELECT * FROM unnest(:ids::bigint[], :names::text[], :slots::timestamptz[], :queues::text[])
                 AS u(job_id, job_name, scheduled_for, queue)
          CROSS JOIN (VALUES ('running', NULL::text, NULL::timestamptz, NULL::integer)) AS v(status, error, missed_until, missed_slots)
        UNION ALL
        SELECT u.*, 'skipped', 'overlap=skip: x', u.scheduled_for + interval '3 seconds', 3
          FROM unnest(:ids::bigint[], :names::text[], :skips::timestamptz[], :queues::text[])
                 AS u(job_id, job_name, scheduled_for, queue)) AS p
    ON CONFLICT (job_id, scheduled_for, shard, attempt) DO NOTHING;
UPDATE pgsched.jobs AS j
   SET next_run = a.next_run, last_error = a.last_error
  FROM unnest(:ids::bigint[], :slots::timestamptz[], NULL::text[]) AS a(job_id, next_run, last_error)
 WHERE j.id = a.job_id;
COMMIT;
UPDATE pgsched.runs AS r
   SET status = 'succeeded', started_at = r.claimed_at, finished_at = now(), duration_ms = 1
  FROM (SELECT id FROM pgsched.runs WHERE status = 'running' AND worker_id = 'w' || :client_id ORDER BY id LIMIT 65) AS done
 WHERE r.id = done.id;
