-- What the dashboard and the HTTP API of `pgsched web` read. Each block reads only
-- views and functions that pgsched_reader may use, so a reader token sees every
-- page; the web server runs them after SET LOCAL ROLE. Parameters use psycopg's
-- %(name)s style; an optional filter is a parameter that may be NULL.

-- name: dashboard_job_names
-- The names of the jobs a filter selects, in name order: the jobs page shows a page
-- of them, "pause all filtered" disables them all. `search` matches a part of the
-- name or the description, whatever the case. health is job_health's word.
SELECT h.job_name AS name
  FROM pgsched.job_health AS h
  JOIN pgsched.job_definitions AS d ON d.name = h.job_name
 WHERE (%(search)s::text IS NULL
        OR strpos(lower(d.name), lower(%(search)s::text)) > 0
        OR strpos(lower(coalesce(d.description, '')), lower(%(search)s::text)) > 0)
   AND (%(queue)s::text IS NULL OR d.queue = %(queue)s::text)
   AND (%(kind)s::text IS NULL OR d.kind = %(kind)s::text)
   AND (%(category)s::text IS NULL OR d.category = %(category)s::text)
   AND (%(enabled)s::boolean IS NULL OR d.enabled = %(enabled)s::boolean)
   AND (%(health)s::text IS NULL OR h.health = %(health)s::text)
   AND (%(after)s::text IS NULL OR d.name > %(after)s::text)
 ORDER BY d.name
 LIMIT %(limit)s::integer;

-- name: dashboard_jobs
-- Definitions and health of the named jobs, in name order: one job_overview call
-- per name, each finding its job by index, and the columns job_overview predates.
SELECT o.*, d.warn_after_seconds
  FROM unnest(%(names)s::text[]) AS wanted(name)
 CROSS JOIN LATERAL pgsched.job_overview(wanted.name) AS o
  LEFT JOIN pgsched.job_definitions AS d ON d.name = o.name
 ORDER BY o.name;

-- name: dashboard_recent_slots
-- The latest slots of the named jobs, newest first: the jobs page's sparklines.
SELECT job_name, scheduled_for, status, attempts, trigger, run_id, missed_until,
       missed_slots, error
  FROM pgsched.job_slot_outcomes(%(names)s::text[], %(slots)s::integer);

-- name: dashboard_slot_strip
-- One job's latest slots as they ended, newest first, and the slots its schedule
-- expected since the newest recorded one that nobody recorded: those are "missed"
-- once they are older than the misfire threshold (at least 60 s, as in
-- pgsched.missed_runs), since a slot a few seconds old may just not be claimed yet.
-- A disabled job owes nothing, so it expects nothing.
WITH job AS (
    SELECT d.schedule, d.timezone, d.enabled, d.created_at,
           now() - make_interval(secs => greatest(d.misfire_threshold_seconds, 60)) AS owed_before
      FROM pgsched.job_definitions AS d
     WHERE d.name = %(job)s::text
), recorded AS (
    SELECT s.scheduled_for, s.status, s.attempts, s.trigger, s.run_id, s.missed_until,
           s.missed_slots, s.error
      FROM pgsched.job_slot_outcomes(ARRAY[%(job)s::text], %(slots)s::integer) AS s
), expected AS (
    SELECT e.slot_at
      FROM job,
           pgsched.schedule_slots(job.schedule, job.timezone,
                                  coalesce((SELECT max(r.scheduled_for) FROM recorded AS r
                                             WHERE r.trigger <> 'manual'),
                                           job.created_at),
                                  %(slots)s::integer, %(job)s::text) AS e
     WHERE job.enabled AND e.slot_at < job.owed_before
)
SELECT * FROM (
    SELECT r.scheduled_for, r.status, r.attempts, r.trigger, r.run_id, r.missed_until,
           r.missed_slots, r.error
      FROM recorded AS r
    UNION ALL
    SELECT e.slot_at, 'missed', 0, 'schedule', NULL, NULL, 1,
           'no run was recorded for this slot'
      FROM expected AS e
     WHERE NOT EXISTS (SELECT 1 FROM recorded AS r WHERE r.scheduled_for = e.slot_at)
) AS slots
 ORDER BY scheduled_for DESC
 LIMIT %(slots)s::integer;

-- name: dashboard_preview
SELECT slot, scheduled_for, local_time, wall_time, timezone, dst_note, dst_shifted
  FROM pgsched.preview_runs(%(job)s::text, %(count)s::integer);

-- name: dashboard_runs
-- A page of runs, newest first; before_id is the previous page's last id.
SELECT id, job_id, job_name, scheduled_for, attempt, status, trigger, queue, worker_id,
       started_at, finished_at, duration_ms, error
  FROM pgsched.run_page(%(job)s::text, %(status)s::text, %(since)s::timestamptz,
                        %(until)s::timestamptz, %(before_id)s::bigint, %(limit)s::integer);

-- name: dashboard_run
SELECT * FROM pgsched.run_detail(%(run_id)s::bigint);

-- name: dashboard_failed_runs
SELECT id, job_name, scheduled_for, attempt, status, trigger, queue, worker_id, started_at,
       finished_at, duration_ms, error, shard,
       -- How many shards the job fans a slot out to now, so a listing names the
       -- shard of a sharded job's attempt (shard 0 included) and no other's.
       (SELECT d.shards FROM pgsched.job_definitions AS d WHERE d.id = f.job_id) AS shards
  FROM pgsched.failed_runs AS f
 WHERE %(job)s::text IS NULL OR job_name = %(job)s::text
 ORDER BY finished_at DESC, id DESC
 LIMIT %(limit)s::integer;

-- name: dashboard_missed_runs
SELECT job_name, kind, scheduled_for, missed_until, missed_slots, reason, run_id, recorded_at,
       replica_lag_seconds
  FROM pgsched.missed_runs
 WHERE %(job)s::text IS NULL OR job_name = %(job)s::text
 ORDER BY recorded_at DESC, scheduled_for DESC NULLS LAST, job_name
 LIMIT %(limit)s::integer;

-- name: dashboard_running_runs
SELECT id, job_name, scheduled_for, attempt, trigger, queue, started_at,
       running_duration_seconds, timeout_seconds, worker_id, worker_host, worker_alive,
       replica_lag_seconds, warn_after_seconds, over_warning, shard,
       (SELECT d.shards FROM pgsched.job_definitions AS d WHERE d.id = r.job_id) AS shards
  FROM pgsched.running_runs AS r
 ORDER BY started_at, id
 LIMIT %(limit)s::integer;

-- name: dashboard_summary
-- The overview's cards, one row. Outcomes are those of the last 24 hours of slots.
-- Running attempts, missed slots and live workers are judged at now() minus the
-- replica's lag (replica_lag_seconds, 0 on a primary), as the views they read are.
SELECT (SELECT count(*) FROM pgsched.job_definitions) AS jobs,
       (SELECT count(*) FROM pgsched.job_definitions WHERE enabled) AS enabled_jobs,
       (SELECT count(*) FROM pgsched.job_definitions WHERE enabled AND last_error IS NOT NULL)
           AS invalid_jobs,
       (SELECT count(*) FROM pgsched.running_runs) AS running_runs,
       outcomes.succeeded AS succeeded_24h,
       outcomes.failed AS failed_24h,
       round(100.0 * outcomes.succeeded / nullif(outcomes.succeeded + outcomes.failed, 0), 2)
           AS success_rate_24h,
       (SELECT coalesce(sum(coalesce(m.missed_slots, 1)), 0) FROM pgsched.missed_runs AS m
         WHERE m.kind IN ('skipped', 'gap')) AS missed_slots_7d,
       (SELECT count(*) FROM pgsched.missed_runs AS m
         WHERE m.kind IN ('overdue', 'unscheduled', 'invalid')) AS stalled_jobs,
       (SELECT count(*) FROM pgsched.workers_alive) AS live_workers,
       lag.p50_ms AS lag_p50_ms, lag.p95_ms AS lag_p95_ms, lag.p99_ms AS lag_p99_ms,
       extract(epoch FROM pgsched.replica_lag())::double precision AS replica_lag_seconds
  FROM (SELECT sum(o.succeeded)::bigint AS succeeded, sum(o.failed)::bigint AS failed
          FROM pgsched.run_outcomes(1) AS o) AS outcomes,
       (SELECT l.p50_ms, l.p95_ms, l.p99_ms FROM pgsched.scheduler_lag(60) AS l
         WHERE l.queue IS NULL) AS lag;

-- name: dashboard_outcomes
SELECT bucket, bucket_hours, succeeded, failed FROM pgsched.run_outcomes(%(days)s::integer);

-- name: dashboard_become
-- The first statement of every request's transaction: act as the token's database
-- role (pgsched_reader or pgsched_admin), name the token for the job audit trail,
-- make reads read-only, and bound every statement's time. And no JIT: a request
-- reads a page, which JIT compiling (40 to 70 ms for a health filter at a million
-- jobs, costed as if every job were read) would never repay. All five end with the
-- transaction, so a pooled connection goes back as it came.
SELECT set_config('role', %(role)s::text, true),
       set_config('pgsched.actor', %(actor)s::text, true),
       set_config('transaction_read_only', %(read_only)s::text, true),
       set_config('statement_timeout', %(statement_timeout)s::text, true),
       set_config('jit', 'off', true);
