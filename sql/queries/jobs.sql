-- Registering and maintaining jobs: `pgsched jobs ...`, `pgsched sync` and
-- pgsched.registration.registry. Parameters use psycopg's %(name)s style.
--
-- These read runs only through the views and SECURITY DEFINER functions, and write
-- only pgsched.jobs, so a login granted pgsched_admin can use every command.

-- name: list_jobs
-- last_status is the latest attempt's status among slots of the last 7 days
-- (pgsched.recent_runs); one backward step on the runs' (job_id, scheduled_for,
-- attempt) key per job.
SELECT j.*, last_run.status AS last_status
  FROM pgsched.jobs AS j
  LEFT JOIN LATERAL (
        SELECT r.status
          FROM pgsched.recent_runs AS r
         WHERE r.job_id = j.id
         ORDER BY r.scheduled_for DESC, r.attempt DESC
         LIMIT 1) AS last_run ON true
 WHERE (%(queue)s::text IS NULL OR j.queue = %(queue)s::text)
   AND (%(enabled)s::boolean IS NULL OR j.enabled = %(enabled)s::boolean)
 ORDER BY j.name;

-- name: show_job
SELECT j.*,
       last_run.id AS last_run_id,
       last_run.status AS last_run_status,
       last_run.scheduled_for AS last_run_scheduled_for,
       last_run.finished_at AS last_run_finished_at,
       stats.last_success_at,
       stats.last_failure_at,
       stats.success_rate AS success_rate_30d,
       (SELECT count(*) FROM pgsched.running_runs AS rr WHERE rr.job_id = j.id) AS running_now
  FROM pgsched.jobs AS j
  LEFT JOIN LATERAL (
        SELECT r.id, r.status, r.scheduled_for, r.finished_at
          FROM pgsched.recent_runs AS r
         WHERE r.job_id = j.id
         ORDER BY r.scheduled_for DESC, r.attempt DESC
         LIMIT 1) AS last_run ON true
  LEFT JOIN LATERAL pgsched.job_stats(j.name, 30) AS stats ON true
 WHERE j.name = %(name)s;

-- name: lock_job
-- Held until the end of the caller's transaction: an edit or a removal decides on
-- the row as it is, and no worker claims the job meanwhile.
SELECT * FROM pgsched.jobs WHERE name = %(name)s FOR UPDATE;

-- name: active_runs_of_job
-- Running attempts come from running_runs (exact); pending ones from recent_runs,
-- whose 7-day window holds every pending attempt a healthy cluster has.
SELECT (SELECT coalesce(array_agg(rr.id ORDER BY rr.id), '{}')
          FROM pgsched.running_runs AS rr WHERE rr.job_id = %(job_id)s) AS running_run_ids,
       (SELECT count(*)
          FROM pgsched.recent_runs AS r
         WHERE r.job_id = %(job_id)s AND r.status = 'pending') AS pending_runs;

-- name: insert_job
-- No row back: a job of that name exists already.
INSERT INTO pgsched.jobs (name, schedule, timezone, kind, target, args, enabled,
                          timeout_seconds, max_attempts, retry_delay_seconds, overlap,
                          misfire, misfire_threshold_seconds, queue, priority, category,
                          description, warn_after_seconds, shards)
VALUES (%(name)s, %(schedule)s, %(timezone)s, %(kind)s, %(target)s, %(args)s,
        coalesce(%(enabled)s::boolean, true), %(timeout_seconds)s, %(max_attempts)s,
        %(retry_delay_seconds)s, %(overlap)s, %(misfire)s, %(misfire_threshold_seconds)s,
        %(queue)s, %(priority)s, %(category)s, %(description)s, %(warn_after_seconds)s,
        %(shards)s)
    ON CONFLICT (name) DO NOTHING
RETURNING id;

-- name: update_job
-- next_run is left alone: pgsched.jobs_before_write clears it when the schedule or
-- zone changes (or the job is re-enabled), and a worker computes it afresh.
-- updated_at is set here too because the trigger does not fire for changes of
-- priority, category or description alone.
UPDATE pgsched.jobs
   SET name = %(name)s, schedule = %(schedule)s, timezone = %(timezone)s, kind = %(kind)s,
       target = %(target)s, args = %(args)s, enabled = coalesce(%(enabled)s::boolean, enabled),
       timeout_seconds = %(timeout_seconds)s, max_attempts = %(max_attempts)s,
       retry_delay_seconds = %(retry_delay_seconds)s, overlap = %(overlap)s,
       misfire = %(misfire)s, misfire_threshold_seconds = %(misfire_threshold_seconds)s,
       queue = %(queue)s, priority = %(priority)s, category = %(category)s,
       description = %(description)s, warn_after_seconds = %(warn_after_seconds)s,
       shards = %(shards)s,
       updated_at = now(), modified_by = current_user
 WHERE id = %(id)s;

-- name: upsert_job
-- The name's unique key settles a race with anyone inserting the same job by hand.
-- An existing job keeps its enabled state unless the definition says otherwise.
INSERT INTO pgsched.jobs AS j (name, schedule, timezone, kind, target, args, enabled,
                               timeout_seconds, max_attempts, retry_delay_seconds, overlap,
                               misfire, misfire_threshold_seconds, queue, priority, category,
                               description, warn_after_seconds, shards)
VALUES (%(name)s, %(schedule)s, %(timezone)s, %(kind)s, %(target)s, %(args)s,
        coalesce(%(enabled)s::boolean, true), %(timeout_seconds)s, %(max_attempts)s,
        %(retry_delay_seconds)s, %(overlap)s, %(misfire)s, %(misfire_threshold_seconds)s,
        %(queue)s, %(priority)s, %(category)s, %(description)s, %(warn_after_seconds)s,
        %(shards)s)
    ON CONFLICT (name) DO UPDATE
   SET schedule = EXCLUDED.schedule, timezone = EXCLUDED.timezone, kind = EXCLUDED.kind,
       target = EXCLUDED.target, args = EXCLUDED.args,
       enabled = coalesce(%(enabled)s::boolean, j.enabled),
       timeout_seconds = EXCLUDED.timeout_seconds, max_attempts = EXCLUDED.max_attempts,
       retry_delay_seconds = EXCLUDED.retry_delay_seconds, overlap = EXCLUDED.overlap,
       misfire = EXCLUDED.misfire, misfire_threshold_seconds = EXCLUDED.misfire_threshold_seconds,
       queue = EXCLUDED.queue, priority = EXCLUDED.priority, category = EXCLUDED.category,
       description = EXCLUDED.description, warn_after_seconds = EXCLUDED.warn_after_seconds,
       shards = EXCLUDED.shards,
       updated_at = now(), modified_by = current_user;

-- name: lock_job_sync
-- Serialises `pgsched sync` runs (deploys starting several containers at once): the
-- second reads what the first committed and finds nothing left to do.
-- The key is "pgsync" in ASCII (0x706773796e63); migrations and run totals use others.
SELECT pg_advisory_xact_lock(123589621280355);

-- name: jobs_for_sync
-- NO KEY UPDATE, as the workers' claim takes: workers inserting runs of these jobs
-- (KEY SHARE, for the foreign key) need not wait for the sync to commit.
SELECT * FROM pgsched.jobs
 WHERE %(every_job)s OR name = ANY(%(names)s::text[])
 ORDER BY name
   FOR NO KEY UPDATE;

-- name: delete_job
DELETE FROM pgsched.jobs WHERE id = %(id)s;

-- name: delete_jobs
DELETE FROM pgsched.jobs WHERE name = ANY(%(names)s::text[]);

-- name: toggle_job
SELECT pgsched.toggle_job(%(name)s, %(enabled)s) AS found;

-- name: run_now
SELECT pgsched.run_now(%(name)s) AS run_id;

-- name: run_slot_outcome
-- The latest attempt of a run's slot: a failed manual run may be retried, and the
-- retry (a new row) is what decides how the slot ended. Of a slot fanned out to
-- shards, the latest attempt of the shard that matters most, as
-- pgsched.job_slot_outcomes ranks them: one still running or waiting, then a
-- failure; the slot succeeded when every shard's latest attempt did.
SELECT latest.id, latest.attempt, latest.status, latest.duration_ms, latest.error
  FROM pgsched.recent_runs AS first
  JOIN LATERAL (
        SELECT s.id, s.attempt, s.status, s.duration_ms, s.error
          FROM (SELECT DISTINCT ON (r.shard) r.id, r.shard, r.attempt, r.status,
                       r.duration_ms, r.error
                  FROM pgsched.recent_runs AS r
                 WHERE r.job_id = first.job_id AND r.scheduled_for = first.scheduled_for
                 ORDER BY r.shard, r.attempt DESC) AS s
         ORDER BY CASE s.status WHEN 'running' THEN 1 WHEN 'pending' THEN 2
                                WHEN 'cancelled' THEN 4 WHEN 'skipped' THEN 5
                                WHEN 'succeeded' THEN 6 ELSE 3 END, s.shard
         LIMIT 1) AS latest ON true
 WHERE first.id = %(run_id)s;

-- name: run_request_purge
-- Idempotency keys are kept a day; purged before each claim, so the table stays small.
DELETE FROM pgsched.run_requests WHERE created_at < now() - interval '1 day';

-- name: run_request_claim
-- The first request with an Idempotency-Key inserts it; a repeat finds the key
-- taken (waiting, if the first is still in its transaction) and no row comes back.
INSERT INTO pgsched.run_requests (principal, idempotency_key, job_name)
VALUES (%(principal)s, %(key)s, %(job)s)
    ON CONFLICT (principal, idempotency_key) DO NOTHING
RETURNING idempotency_key;

-- name: run_request_find
SELECT job_name, run_id FROM pgsched.run_requests
 WHERE principal = %(principal)s AND idempotency_key = %(key)s;

-- name: run_request_record
UPDATE pgsched.run_requests SET run_id = %(run_id)s
 WHERE principal = %(principal)s AND idempotency_key = %(key)s;

-- name: job_history
-- The audit trail of a job, oldest first: every change recorded under this name, and
-- every other change of the same jobs (by id), so a renamed job shows its whole
-- story and a deleted one its last. pgsched_admin may read it; the reader may not.
SELECT c.id, c.changed_at, c.change, c.job_name, c.changed_by, c.actor,
       host(c.client_addr) AS client_addr, c.old_values, c.new_values
  FROM pgsched.job_changes AS c
 WHERE c.job_id IN (SELECT n.job_id FROM pgsched.job_changes AS n WHERE n.job_name = %(name)s)
 ORDER BY c.id;
