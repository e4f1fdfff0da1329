-- The worker's runtime queries, one named block each ("-- name: <name>").
-- Parameters use psycopg's %(name)s style; repository.py runs each block as a
-- prepared statement. Batches on the hot path (claim, finish) arrive as one typed
-- array per column, read with unnest: the planner knows their types and sizes them
-- at ten rows where it sized a JSON recordset at a hundred, so it looks each row up
-- by key rather than scanning a table to hash it. All "what is due" decisions
-- compare against now(), the database clock, never the worker's.
-- A run or job found by key is checked with IS NOT DISTINCT FROM where a partial
-- index covers the value (status 'running', 'skipped'): with "=", the planner may
-- read that whole index for a few rows, and between two vacuums it holds an entry
-- for every run that ever had the status (thousands at a high rate), not only the
-- few that have it now. status is NOT NULL: the two comparisons mean the same.

-- name: register_worker
INSERT INTO pgsched.workers (id, host, pid, queues, concurrency, lease_seconds)
VALUES (%(worker_id)s, %(host)s, %(pid)s, %(queues)s, %(concurrency)s, %(lease_seconds)s);

-- name: heartbeat
-- No row back means the cluster declared this worker dead: it must let go of its work.
-- peers: other workers alive (as pgsched.workers_alive judges them on a primary) serve
-- one of its queues, so its claims ahead leave them a share of each instant.
UPDATE pgsched.workers AS w
   SET last_heartbeat_at = now()
 WHERE id = %(worker_id)s AND stopped_at IS NULL
RETURNING id,
          EXISTS (SELECT FROM pgsched.workers AS o
                   WHERE o.id <> w.id AND o.stopped_at IS NULL AND o.queues && w.queues
                     AND o.last_heartbeat_at >= now() - make_interval(secs => o.lease_seconds))
          AS peers;

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

-- name: claim_settings
-- First in every claim transaction, for it alone (set_config(..., true): nothing
-- outlives the transaction, so it is safe behind a transaction pooler).
-- The claim's generic plan is the plan its custom plans are (claim_due_jobs is
-- costed without its parameters' values), but with plan_cache_mode auto PostgreSQL
-- keeps it only while it costs no more than the average of the custom plans before
-- it: a tie that every ANALYZE of a busy jobs table breaks one way or the other (it
-- kept it in one 20 s profile of the throughput shape, planned all 1,201 claims of
-- the next). So the claim asks for the generic plan, and claim_settings_end restores
-- the mode saved here for the statements after it (insert_planned_runs is planned
-- at each call on purpose). JIT stays off: the claim's plan is costed high, and a
-- plan made with jit on above jit_above_cost is JIT-compiled at every execution,
-- 0.3 to 1.5 s for a statement that runs in 0.3 ms. Nothing a worker runs gains from it.
SELECT set_config('jit', 'off', true),
       set_config('pgsched.plan_cache_mode', current_setting('plan_cache_mode'), true),
       set_config('plan_cache_mode', 'force_generic_plan', true);

-- name: claim_settings_limited
-- claim_settings and the transaction's limit (limit_transaction's, limit_setting
-- naming which setting) in one statement, the first of
-- a claim: one statement fewer a claim, each ~20 us of the worker's CPU in psycopg and
-- a Bind and Execute on the server. The statements between it and claim_due_jobs (a
-- capped queue's lock_queue_limits and queue_headroom) then run with the generic
-- plan too: each reads a small table by queue, which no parameter value changes.
SELECT set_config(%(limit_setting)s, %(ms)s, true),
       set_config('jit', 'off', true),
       set_config('pgsched.plan_cache_mode', current_setting('plan_cache_mode'), true),
       set_config('plan_cache_mode', 'force_generic_plan', true);

-- name: claim_settings_end
SELECT set_config('plan_cache_mode', current_setting('pgsched.plan_cache_mode'), true);

-- name: claim_due_jobs
-- Jobs due now, or within ahead_seconds (fire-ahead: the worker holds the slot and
-- starts it at its instant), higher priority first, then earlier due. Each queue is
-- read through jobs_queue_priority_due_idx: its priorities one index descent each,
-- highest first (levels), and within each priority its due jobs as a bounded range
-- in due order, until the limit is reached; so the claim touches the first entries
-- of its queues only, however many jobs are due, and no sort runs over all of them.
-- The merged list keeps (priority, due) order across the queues, and the few rows
-- one queue locked beyond the limit are released unchanged at COMMIT.
-- A job already running is not claimed ahead (its attempt may end before the slot):
-- its slot is claimed once due, under the overlap rules. That check looks up each
-- job claimed ahead in runs_job_id_active_idx (OFFSET 0 keeps the planner from
-- hashing every running run instead: the whole partial index, dead entries too).
-- The row lock returns each locked row's newest version (its shards passed on, not
-- read again); running_run_ids() then reads a snapshot taken after the locks, so the
-- overlap check is never stale: called once for the claim, its arguments aggregate
-- every locked row first.
-- NO KEY UPDATE, not UPDATE: inserting a run takes KEY SHARE on its job for the
-- foreign key, and must not wait for (or deadlock with) a claim holding the job.
-- A worker the cluster has declared dead claims nothing: its worker row, locked
-- FOR SHARE until the claim commits, must not be stopped. A reaper (FOR UPDATE SKIP
-- LOCKED) then passes over it until the claim is recorded and reaps its runs with it;
-- a claim that comes second waits for the reap and sees the worker stopped.
-- The plan must not depend on the parameters' values, so that the prepared statement
-- keeps one generic plan instead of being planned at every call (0.4 ms a claim):
-- PostgreSQL keeps it after five executions only if it costs no more than the custom
-- plans did (claim_settings). So the limit and the fire-ahead bound are read through
-- InitPlans ((SELECT ...)), which custom plans cannot see into either: both are
-- planned alike, and the generic plan is right wherever a custom one would be.
-- The queue list is sized by its own cardinality (LIMIT cardinality(...)): exactly
-- in a custom plan, one queue in a generic one, not ten. Those costs are high (the
-- planner takes a tenth of a level's due jobs under a LIMIT it cannot read), above
-- jit_above_cost at a million jobs: claim_settings turns JIT off before it.
-- A level's due jobs are the index range priority = level AND due <= bound: both
-- bound the scan, so a claim that finds fewer due jobs than its limit stops at the
-- first job not due. The row comparison (priority, due) <= (level, bound) used before
-- bounded it by priority only (priority is a DESC column: PostgreSQL reads a mixed-order
-- row comparison by its first column), and read the rest of every level: 7,585
-- buffers, 50 to 180 ms a claim at 1,000,000 jobs over three priorities, 5 due (now
-- 44 buffers, 0.4 ms).
-- No query of this release needs jobs_queue_due_idx (the next release drops it); the
-- planner may still pick it for a level while it exists (with one priority: the
-- smaller index, the same range).
WITH candidates AS MATERIALIZED (
        SELECT j.*
          FROM (SELECT name FROM unnest(%(queues)s::text[]) AS u(name)
                 LIMIT cardinality(%(queues)s::text[])) AS q
         CROSS JOIN LATERAL (
              WITH RECURSIVE levels (priority) AS (
                    (SELECT d.priority FROM pgsched.jobs AS d
                      WHERE d.enabled AND d.queue = q.name
                      ORDER BY d.priority DESC LIMIT 1)
                    UNION ALL
                    SELECT (SELECT d.priority FROM pgsched.jobs AS d
                             WHERE d.enabled AND d.queue = q.name AND d.priority < l.priority
                             ORDER BY d.priority DESC LIMIT 1)
                      FROM levels AS l
                     WHERE l.priority IS NOT NULL
              )
              SELECT due.*
                FROM levels AS l
               CROSS JOIN LATERAL (
                SELECT id, name, schedule, timezone, kind, target, args, timeout_seconds,
                       max_attempts, overlap, misfire, misfire_threshold_seconds, queue,
                       priority, next_run, checkpoint, warn_after_seconds, shards,
                       breaker_failures
                  FROM pgsched.jobs AS d
                 WHERE d.enabled
                   AND d.queue = q.name
                   AND d.priority = l.priority
                   AND coalesce(d.next_run, '-infinity'::timestamptz)
                       <= now() + make_interval(secs => (SELECT %(ahead_seconds)s::float8))
                   AND (coalesce(d.next_run, '-infinity'::timestamptz) <= now()
                        OR NOT EXISTS (SELECT 1 FROM pgsched.runs AS r
                                        WHERE r.job_id = d.id
                                          AND r.status IN ('pending', 'running')
                                          AND r.status IS NOT DISTINCT FROM 'running'
                                       OFFSET 0))
                   AND EXISTS (SELECT 1 FROM pgsched.workers AS w
                                WHERE w.id = %(worker_id)s AND w.stopped_at IS NULL
                                  FOR SHARE)
                 ORDER BY coalesce(d.next_run, '-infinity'::timestamptz)
                 LIMIT (SELECT %(limit)s::integer)
                   FOR NO KEY UPDATE SKIP LOCKED) AS due
               LIMIT (SELECT %(limit)s::integer)) AS j
), locked AS (
        SELECT * FROM candidates
         ORDER BY priority DESC, coalesce(next_run, '-infinity'::timestamptz)
         LIMIT (SELECT %(limit)s::integer)
), running AS (
        SELECT a.*
          FROM (SELECT array_agg(id) AS ids, array_agg(shards > 1) AS sharded FROM locked) AS l
         CROSS JOIN LATERAL pgsched.running_run_ids(l.ids, l.sharded) AS a
)
SELECT locked.*, coalesce(running.run_ids, '{}') AS running_run_ids,
       CASE WHEN locked.overlap = 'queue'
            THEN (SELECT count(DISTINCT q.scheduled_for) FROM pgsched.runs AS q
                   WHERE q.job_id = locked.id AND q.status IN ('pending', 'running')
                     AND q.status IS NOT DISTINCT FROM 'pending'
                     AND q.trigger IN ('schedule', 'catchup'))::integer
            ELSE 0 END AS queued_runs,
       now() AS database_now,
       -- The circuit breaker, looked up (by its key) only for jobs that have one.
       CASE WHEN locked.breaker_failures IS NOT NULL
            THEN (SELECT b.state FROM pgsched.job_breakers AS b WHERE b.job_id = locked.id)
            END AS breaker_state,
       CASE WHEN locked.breaker_failures IS NOT NULL
            THEN (SELECT b.open_until FROM pgsched.job_breakers AS b WHERE b.job_id = locked.id)
            END AS breaker_open_until,
       CASE WHEN locked.breaker_failures IS NOT NULL
            THEN (SELECT b.probe_slot FROM pgsched.job_breakers AS b WHERE b.job_id = locked.id)
            END AS breaker_probe_slot
  FROM locked
  LEFT JOIN running ON running.job_id = locked.id
 ORDER BY locked.priority DESC, coalesce(locked.next_run, '-infinity'::timestamptz);

-- name: claim_unscheduled_jobs
-- New or changed jobs (next_run NULL) only need a next_run; taking them in large
-- batches apart from due work keeps a bulk INSERT from delaying jobs that are due.
-- Only what the planner reads: a million new jobs' args are not worth decoding.
-- The name is read because H in a schedule picks its values from it.
-- An unscheduled job is the first entry of its priority level in
-- jobs_queue_priority_due_idx (NULL sorts as -infinity): each queue's levels are
-- walked as the claim walks them, and each level's unscheduled jobs read as a range.
-- (Without the walk, a queue's whole index is read: priority is not bounded.)
SELECT j.*, '{}'::bigint[] AS running_run_ids, 0 AS queued_runs, now() AS database_now
  FROM unnest(%(queues)s::text[]) AS q(name)
 CROSS JOIN LATERAL (
      WITH RECURSIVE levels (priority) AS (
            (SELECT d.priority FROM pgsched.jobs AS d
              WHERE d.enabled AND d.queue = q.name
              ORDER BY d.priority DESC LIMIT 1)
            UNION ALL
            SELECT (SELECT d.priority FROM pgsched.jobs AS d
                     WHERE d.enabled AND d.queue = q.name AND d.priority < l.priority
                     ORDER BY d.priority DESC LIMIT 1)
              FROM levels AS l
             WHERE l.priority IS NOT NULL
      )
      SELECT new.*
        FROM levels AS l
       CROSS JOIN LATERAL (
            SELECT id, name, schedule, timezone, overlap, misfire, misfire_threshold_seconds,
                   next_run
              FROM pgsched.jobs AS d
             WHERE d.enabled AND d.queue = q.name AND d.priority = l.priority
               AND coalesce(d.next_run, '-infinity'::timestamptz) = '-infinity'::timestamptz
             LIMIT %(limit)s
               FOR NO KEY UPDATE SKIP LOCKED) AS new
       LIMIT %(limit)s) AS j
 LIMIT %(limit)s;

-- name: start_pending_runs
-- database_now is the runs' claimed_at (the same transaction): the worker maps its
-- own clock onto the database's from it, to record when each attempt began.
SELECT run_id, fence, job_id, scheduled_for, attempt, run_trigger, shard,
       now() AS database_now
  FROM pgsched.start_pending_runs(%(worker_id)s, %(queues)s, %(limit)s);

-- name: load_jobs
SELECT id, name, schedule, timezone, kind, target, args, timeout_seconds, max_attempts,
               overlap, misfire, misfire_threshold_seconds, queue, priority, next_run,
               checkpoint, warn_after_seconds, shards, breaker_failures
  FROM pgsched.jobs
 WHERE id = ANY(%(job_ids)s);

-- name: load_shard_checkpoints
-- The checkpoints of shards 1..N-1 (shard 0's is jobs.checkpoint).
SELECT job_id, shard, checkpoint
  FROM pgsched.job_shard_checkpoints
 WHERE (job_id, shard) IN (SELECT * FROM unnest(%(job_ids)s::bigint[], %(shards)s::integer[]));

-- name: insert_planned_runs
-- First attempts of fired slots, skipped slots and gap records. ON CONFLICT makes
-- the unique (job_id, scheduled_for, shard, attempt) the last word on "no slot twice".
-- A slot that runs or waits gets one first attempt per shard: shard 0 as planned,
-- shards 1..N-1 pending from the slot's instant, for any worker to start (the
-- NOTIFY, sent at commit, wakes them). Skip and gap records stand for the slot: one
-- row, shard 0.
-- A slot skipped for the same reason as the job's latest run, itself a skip record
-- (overlap=skip behind one running attempt), extends that record instead of adding
-- one: scheduled_for..missed_until, missed_slots of them. "Latest" is one step back
-- along the unique key; the job's row lock, held by this claim, keeps two claims
-- from extending one record at once.
WITH planned AS MATERIALIZED (
    SELECT *
      FROM unnest(%(job_ids)s::bigint[], %(job_names)s::text[],
                  %(scheduled_fors)s::timestamptz[], %(statuses)s::text[],
                  %(triggers)s::text[], %(queues)s::text[], %(errors)s::text[],
                  %(missed_untils)s::timestamptz[], %(missed_slots)s::integer[],
                  %(compacts)s::boolean[], %(shards)s::integer[])
           AS p(job_id, job_name, scheduled_for, status, trigger, queue, error,
                missed_until, missed_slots, compact, shards)
), latest AS (
    SELECT p.job_id, p.scheduled_for, p.error, p.missed_until, p.missed_slots,
           (SELECT l.id FROM pgsched.runs AS l
             WHERE l.job_id = p.job_id AND l.scheduled_for < p.scheduled_for
             ORDER BY l.scheduled_for DESC, l.shard DESC, l.attempt DESC
             LIMIT 1) AS run_id
      FROM planned AS p
     WHERE p.compact
), extended AS (
    UPDATE pgsched.runs AS k
       SET missed_until = coalesce(p.missed_until, p.scheduled_for),
           missed_slots = coalesce(k.missed_slots, 1) + coalesce(p.missed_slots, 1)
      FROM latest AS p
     WHERE k.id = p.run_id AND k.status IS NOT DISTINCT FROM 'skipped' AND k.error = p.error
    RETURNING k.job_id, p.scheduled_for
)
-- Shard 0 as planned, then shards 1..N-1 of the slots that run or wait (none for an
-- unsharded job: the second branch filters it out before generating anything).
, sharded AS (
    SELECT p.*, 0 AS shard, p.status AS shard_status FROM planned AS p
    UNION ALL
    SELECT p.*, g.shard, 'pending'
      FROM planned AS p
     CROSS JOIN LATERAL generate_series(1, p.shards - 1) AS g(shard)
     WHERE p.shards > 1 AND p.status IN ('running', 'pending')
)
INSERT INTO pgsched.runs AS r (job_id, job_name, scheduled_for, shard, attempt, status, trigger,
                               worker_id, claimed_at, fence, available_at, finished_at,
                               queue, error, missed_until, missed_slots)
SELECT p.job_id, p.job_name, p.scheduled_for, p.shard, 1, p.shard_status, p.trigger,
       CASE WHEN p.shard_status = 'running' THEN %(worker_id)s END,
       CASE WHEN p.shard_status = 'running' THEN now() END,
       CASE WHEN p.shard_status = 'running' THEN nextval('pgsched.run_fence_seq') END,
       CASE WHEN p.shard_status = 'pending' THEN greatest(now(), p.scheduled_for) END,
       CASE WHEN p.shard_status = 'skipped' THEN now() END,
       p.queue, p.error, p.missed_until, p.missed_slots
  FROM sharded AS p
 WHERE NOT EXISTS (SELECT 1 FROM extended AS e
                    WHERE e.job_id = p.job_id AND e.scheduled_for = p.scheduled_for)
    ON CONFLICT (job_id, scheduled_for, shard, attempt) DO NOTHING
RETURNING r.id, r.job_id, r.scheduled_for, r.shard, r.status, r.trigger, r.fence,
          CASE WHEN r.shard > 0 THEN pg_notify('pgsched_wakeup', r.queue) END AS notified;

-- name: insert_planned_runs_plain
-- insert_planned_runs for a claim with no record to extend (no compact skip) and no
-- sharded job, the usual claim: the same rows, without the steps that cannot apply.
-- Only the attempts it starts come back: the worker reads nothing else, and under
-- overload each of them brings a skip record (its job's other due slots) whose row it
-- would receive and parse for nothing.
WITH inserted AS (
INSERT INTO pgsched.runs AS r (job_id, job_name, scheduled_for, shard, attempt, status, trigger,
                               worker_id, claimed_at, fence, available_at, finished_at,
                               queue, error, missed_until, missed_slots)
SELECT p.job_id, p.job_name, p.scheduled_for, 0, 1, p.status, p.trigger,
       CASE WHEN p.status = 'running' THEN %(worker_id)s END,
       CASE WHEN p.status = 'running' THEN now() END,
       CASE WHEN p.status = 'running' THEN nextval('pgsched.run_fence_seq') END,
       CASE WHEN p.status = 'pending' THEN greatest(now(), p.scheduled_for) END,
       CASE WHEN p.status = 'skipped' THEN now() END,
       p.queue, p.error, p.missed_until, p.missed_slots
  FROM unnest(%(job_ids)s::bigint[], %(job_names)s::text[],
              %(scheduled_fors)s::timestamptz[], %(statuses)s::text[],
              %(triggers)s::text[], %(queues)s::text[], %(errors)s::text[],
              %(missed_untils)s::timestamptz[], %(missed_slots)s::integer[])
       AS p(job_id, job_name, scheduled_for, status, trigger, queue, error,
            missed_until, missed_slots)
    ON CONFLICT (job_id, scheduled_for, shard, attempt) DO NOTHING
RETURNING r.id, r.job_id, r.scheduled_for, r.shard, r.status, r.trigger, r.fence
)
SELECT * FROM inserted WHERE status = 'running';

-- name: advance_jobs
UPDATE pgsched.jobs AS j
   SET next_run = a.next_run, last_error = a.last_error
  FROM unnest(%(job_ids)s::bigint[], %(next_runs)s::timestamptz[], %(last_errors)s::text[])
       AS a(job_id, next_run, last_error)
 WHERE j.id = a.job_id;

-- name: half_open_breakers
-- The claim starts the probe slot of open breakers whose cool-down ended. Only an
-- open breaker moves: one closed or re-opened meanwhile by a recorded outcome stays.
UPDATE pgsched.job_breakers AS b
   SET state = 'half_open', probe_slot = p.probe_slot, changed_at = now()
  FROM jsonb_to_recordset(%(rows)s::jsonb) AS p(job_id bigint, probe_slot timestamptz)
 WHERE b.job_id = p.job_id AND b.state = 'open' AND b.open_until <= p.probe_slot
RETURNING b.job_id, b.probe_slot, b.failed_slots;

-- name: supersede_retries
-- A retry still waiting when its job's next slot starts would run behind it and
-- pile up under a frequent schedule; it is recorded as superseded instead. Its slot
-- ends failed (its last attempt failed, and it gets no other): circuit breakers count it.
WITH superseded AS (
    UPDATE pgsched.runs AS r
       SET status = 'skipped', finished_at = now(),
           error = format('superseded: the slot %%s started before this retry did',
                          to_char(s.started_slot AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
      FROM unnest(%(job_ids)s::bigint[], %(started_slots)s::timestamptz[])
           AS s(job_id, started_slot)
     WHERE r.job_id = s.job_id AND r.status = 'pending' AND r.trigger = 'retry'
       AND r.scheduled_for < s.started_slot
    RETURNING r.id, r.job_id, r.scheduled_for, r.attempt
), breaker AS (
    SELECT b.*
      FROM (SELECT jsonb_agg(jsonb_build_object(
                       'run_id', u.id, 'job_id', u.job_id, 'scheduled_for', u.scheduled_for,
                       'failed', true, 'manual', false)) AS outcomes
              FROM superseded AS u
              JOIN pgsched.jobs AS j ON j.id = u.job_id
             WHERE j.breaker_failures IS NOT NULL
            HAVING count(*) > 0) AS s
     CROSS JOIN LATERAL pgsched.breaker_record(s.outcomes) AS b
)
SELECT b.run_id, b.job_name, b.queue, b.transition, b.failed_slots, b.open_until,
       u.scheduled_for, u.attempt, j.max_attempts
  FROM breaker AS b
  JOIN superseded AS u ON u.id = b.run_id
  JOIN pgsched.jobs AS j ON j.id = b.job_id;

-- name: cancel_replaced_runs
-- The workers running them hear the NOTIFY (sent at commit) and stop the work; the
-- shards of the replaced slot still waiting for a worker are cancelled with them.
WITH cancelled AS (
    UPDATE pgsched.runs
       SET status = 'cancelled', finished_at = now(),
           duration_ms = extract(epoch FROM now() - coalesce(started_at, claimed_at)) * 1000,
           error = 'cancelled by overlap=replace: a newer slot of the job started'
     WHERE id = ANY(%(run_ids)s) AND status IN ('running', 'pending')
    RETURNING id
)
SELECT array_agg(id) AS run_ids,
       pg_notify('pgsched_cancel', string_agg(id::text, ',')) AS notified
  FROM cancelled
HAVING count(*) > 0;

-- name: next_due_in
-- Seconds from now until something may be due for these queues (<= 0: now; NULL:
-- nothing at all), and whether jobs wait for their first next_run. Each queue's
-- earliest job is the earliest of its priority levels' first entries in
-- jobs_queue_priority_due_idx, the levels walked as the claim walks them: one index
-- descent per level, however many jobs are registered. A job without a next_run
-- sorts first as -infinity: the earliest is -infinity when one waits.
WITH earliest AS MATERIALIZED (
    SELECT min(f.due) AS due
      FROM unnest(%(queues)s::text[]) AS q(name)
     CROSS JOIN LATERAL (
          WITH RECURSIVE levels (priority) AS (
                (SELECT d.priority FROM pgsched.jobs AS d
                  WHERE d.enabled AND d.queue = q.name
                  ORDER BY d.priority DESC LIMIT 1)
                UNION ALL
                SELECT (SELECT d.priority FROM pgsched.jobs AS d
                         WHERE d.enabled AND d.queue = q.name AND d.priority < l.priority
                         ORDER BY d.priority DESC LIMIT 1)
                  FROM levels AS l
                 WHERE l.priority IS NOT NULL
          )
          SELECT (SELECT coalesce(d.next_run, '-infinity'::timestamptz)
                    FROM pgsched.jobs AS d
                   WHERE d.enabled AND d.queue = q.name AND d.priority = l.priority
                   ORDER BY coalesce(d.next_run, '-infinity'::timestamptz)
                   LIMIT 1) AS due
            FROM levels AS l
           WHERE l.priority IS NOT NULL) AS f
)
SELECT CASE WHEN e.due IS NOT NULL
            THEN extract(epoch FROM greatest(e.due, now() - interval '1 hour') - now())::float8
            END AS jobs_due_in,
       extract(epoch FROM
           (SELECT greatest(r.available_at, now() - interval '1 hour')
              FROM pgsched.runs AS r
             WHERE r.status = 'pending'
               AND (SELECT j.queue = ANY(%(queues)s) FROM pgsched.jobs AS j
                     WHERE j.id = r.job_id)
             ORDER BY r.available_at
             LIMIT 1) - now())::float8 AS pending_due_in,
       coalesce(e.due = '-infinity'::timestamptz, false) AS unscheduled
  FROM earliest AS e;

-- name: queue_limits
SELECT queue FROM pgsched.queue_limits WHERE queue = ANY(%(queues)s);

-- name: finish_runs
-- Records outcomes only where the run still carries the claim's fence and is
-- running; everything else was taken from this worker and is dropped. started_at
-- is when the attempt began, by the worker's clock mapped onto the database's at
-- the claim (never earlier than the truth). The retry, where pgsched.next_attempt_at
-- grants one, is queued in the same statement; a worker reports lost only for an
-- attempt it interrupted itself (shutdown past the grace period).
-- The status each run must still have comes with the batch (o.was), so that it is a
-- join condition and not a filter on runs alone: as a filter, the planner estimated it
-- from the last ANALYZE, and one taken when no run was running (between two instants
-- of an every-second load) made it expect one running run: it then scanned every run
-- and compared each running one with each of the batch (500 x 1,000 comparisons, ten
-- times the statement's usual cost; bench/README.md, Round 10 claims and waits). And
-- runs are read by the batch's ids (r.id = ANY): never a scan of every run to hash.
WITH outcome AS (
    SELECT *
      FROM unnest(%(run_ids)s::bigint[], %(fences)s::bigint[], %(statuses)s::text[],
                  %(errors)s::text[], %(outputs)s::text[], %(durations)s::float8[],
                  %(retryables)s::boolean[], %(started_ats)s::timestamptz[],
                  array_fill('running'::text,
                             ARRAY[coalesce(cardinality(%(run_ids)s::bigint[]), 0)]))
           AS o(run_id, fence, status, error, output, duration_ms, retryable, started_at, was)
), finished AS (
    UPDATE pgsched.runs AS r
       SET status = o.status, started_at = o.started_at, finished_at = now(),
           duration_ms = o.duration_ms, error = o.error, output = o.output
      FROM outcome AS o
     WHERE r.id = ANY(%(run_ids)s::bigint[])
       AND r.id = o.run_id AND r.fence = o.fence AND r.status IS NOT DISTINCT FROM o.was
    RETURNING r.id, r.job_id, r.job_name, r.scheduled_for, r.shard, r.attempt, r.queue,
              r.status, o.retryable, r.trigger
), retried AS (
    INSERT INTO pgsched.runs AS n (job_id, job_name, scheduled_for, shard, attempt, status,
                                   trigger, available_at, queue)
    SELECT f.job_id, f.job_name, f.scheduled_for, f.shard, f.attempt + 1, 'pending', 'retry',
           a.available_at, f.queue
      FROM finished AS f
      JOIN pgsched.jobs AS j ON j.id = f.job_id
     CROSS JOIN LATERAL (SELECT pgsched.next_attempt_at(f.status, f.attempt, j.max_attempts,
                                                        j.retry_delay_seconds, f.retryable,
                                                        f.status = 'lost') AS available_at) AS a
     WHERE a.available_at IS NOT NULL
    ON CONFLICT (job_id, scheduled_for, shard, attempt) DO NOTHING
    RETURNING n.id, n.job_id, n.scheduled_for, n.shard, n.available_at
), breaker AS (
    -- Final outcomes (no retry queued) of jobs with a circuit breaker; the function
    -- is not called at all when the batch has none, and a batch of jobs that had no
    -- breaker when claimed (%(breakers)s false: the usual case) reads nothing more.
    SELECT b.*
      FROM (SELECT jsonb_agg(jsonb_build_object(
                       'run_id', f.id, 'job_id', f.job_id, 'scheduled_for', f.scheduled_for,
                       'failed', f.status <> 'succeeded', 'manual', f.trigger = 'manual'))
                       AS outcomes
              FROM finished AS f
              JOIN pgsched.jobs AS j ON j.id = f.job_id
             WHERE %(breakers)s::boolean AND j.breaker_failures IS NOT NULL
               AND f.status IN ('succeeded', 'failed', 'timed_out', 'lost')
               AND NOT EXISTS (SELECT 1 FROM retried AS t
                                WHERE t.job_id = f.job_id AND t.scheduled_for = f.scheduled_for
                                  AND t.shard = f.shard)
            HAVING count(*) > 0) AS s
     CROSS JOIN LATERAL pgsched.breaker_record(s.outcomes) AS b
)
SELECT f.id, t.id AS retry_run_id, t.available_at AS retry_at,
       b.transition AS breaker_transition, b.failed_slots AS breaker_failed_slots,
       b.open_until AS breaker_open_until, b.queue AS breaker_queue
  FROM finished AS f
  LEFT JOIN retried AS t
    ON t.job_id = f.job_id AND t.scheduled_for = f.scheduled_for AND t.shard = f.shard
  LEFT JOIN breaker AS b ON b.run_id = f.id;

-- name: finish_succeeded_runs
-- finish_runs for a batch whose attempts all succeeded, of jobs that had no circuit
-- breaker when claimed (the usual batch): a success is never retried and moves no
-- breaker, so the outcomes are recorded, fence checked, without those steps. The
-- status a run must still have is a join condition, as in finish_runs (o.was).
UPDATE pgsched.runs AS r
   SET status = o.status, started_at = o.started_at, finished_at = now(),
       duration_ms = o.duration_ms, error = o.error, output = o.output
  FROM unnest(%(run_ids)s::bigint[], %(fences)s::bigint[], %(statuses)s::text[],
              %(errors)s::text[], %(outputs)s::text[], %(durations)s::float8[],
              %(started_ats)s::timestamptz[],
              array_fill('running'::text,
                         ARRAY[coalesce(cardinality(%(run_ids)s::bigint[]), 0)]))
       AS o(run_id, fence, status, error, output, duration_ms, started_at, was)
 WHERE r.id = ANY(%(run_ids)s::bigint[])
   AND r.id = o.run_id AND r.fence = o.fence AND r.status IS NOT DISTINCT FROM o.was
RETURNING r.id, NULL::bigint AS retry_run_id, NULL::timestamptz AS retry_at,
          NULL::text AS breaker_transition, NULL::integer AS breaker_failed_slots,
          NULL::timestamptz AS breaker_open_until, NULL::text AS breaker_queue;

-- name: save_checkpoint
-- Shard 0 (every unsharded job) keeps its checkpoint in jobs.checkpoint.
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

-- name: save_shard_checkpoint
-- Shards 1..N-1 keep theirs in job_shard_checkpoints, one row per (job, shard).
WITH holder AS (
    SELECT id FROM pgsched.runs
     WHERE id = %(run_id)s AND fence = %(fence)s AND status = 'running'
       FOR SHARE
)
INSERT INTO pgsched.job_shard_checkpoints AS c (job_id, shard, checkpoint)
SELECT %(job_id)s, %(shard)s, %(checkpoint)s
 WHERE EXISTS (SELECT 1 FROM holder)
    ON CONFLICT (job_id, shard) DO UPDATE SET checkpoint = excluded.checkpoint
RETURNING c.job_id;

-- name: runs_taken_away
-- Of the attempts this worker believes it runs, those no longer running under its fence.
SELECT h.run_id
  FROM unnest(%(run_ids)s::bigint[], %(fences)s::bigint[]) AS h(run_id, fence)
 WHERE NOT EXISTS (SELECT 1 FROM pgsched.runs AS r
                    WHERE r.id = h.run_id AND r.fence = h.fence AND r.status = 'running');

-- name: reap_lost_runs
-- The joins read each run as this statement's snapshot saw it, before the function
-- marked it lost: its attempt, slot and start are what the logs and hooks report.
-- A lost attempt with no retry is its slot's final failure: circuit breakers count it.
WITH reaped AS MATERIALIZED (
    SELECT l.run_id, l.job_name, l.worker_id, l.retry_run_id, r.attempt, r.scheduled_for,
           extract(epoch FROM now() - coalesce(r.started_at, r.claimed_at))::float8 * 1000
               AS duration_ms,
           j.max_attempts, r.job_id, r.trigger, j.breaker_failures
      FROM pgsched.reap_lost_runs(%(worker_id)s) AS l
      LEFT JOIN pgsched.runs AS r ON r.id = l.run_id
      LEFT JOIN pgsched.jobs AS j ON j.id = r.job_id
), breaker AS (
    SELECT b.*
      FROM (SELECT jsonb_agg(jsonb_build_object(
                       'run_id', l.run_id, 'job_id', l.job_id, 'scheduled_for', l.scheduled_for,
                       'failed', true, 'manual', l.trigger = 'manual')) AS outcomes
              FROM reaped AS l
             WHERE l.breaker_failures IS NOT NULL AND l.retry_run_id IS NULL
            HAVING count(*) > 0) AS s
     CROSS JOIN LATERAL pgsched.breaker_record(s.outcomes) AS b
)
SELECT l.run_id, l.job_name, l.worker_id, l.retry_run_id, l.attempt, l.scheduled_for,
       l.duration_ms, l.max_attempts, b.transition AS breaker_transition,
       b.failed_slots AS breaker_failed_slots, b.open_until AS breaker_open_until,
       b.queue AS breaker_queue
  FROM reaped AS l
  LEFT JOIN breaker AS b ON b.run_id = l.run_id;

-- name: release_unstarted_runs
-- Runs recorded as started by this worker that it does not hold: the claim
-- committed but its answer never arrived (a connection lost at COMMIT). They never
-- ran; they are recorded lost, and pgsched interrupted them (next_attempt_at).
WITH released AS (
    UPDATE pgsched.runs AS r
       SET status = 'lost', finished_at = now(), duration_ms = 0,
           error = 'claimed, but the claim''s answer never reached the worker; never started'
     WHERE r.worker_id = %(worker_id)s AND r.status = 'running'
       AND r.claimed_at < now() - make_interval(secs => %(older_than_seconds)s)
       AND NOT r.id = ANY(%(held_run_ids)s)
    RETURNING r.id, r.job_id, r.job_name, r.scheduled_for, r.shard, r.attempt, r.queue,
              r.worker_id, r.error, r.trigger
), retried AS (
    INSERT INTO pgsched.runs AS n (job_id, job_name, scheduled_for, shard, attempt, status,
                                   trigger, available_at, queue)
    SELECT l.job_id, l.job_name, l.scheduled_for, l.shard, l.attempt + 1, 'pending', 'retry',
           a.available_at, l.queue
      FROM released AS l
      JOIN pgsched.jobs AS j ON j.id = l.job_id
     CROSS JOIN LATERAL (SELECT pgsched.next_attempt_at('lost', l.attempt, j.max_attempts,
                                                        j.retry_delay_seconds, true, true)
                                AS available_at) AS a
     WHERE a.available_at IS NOT NULL
    ON CONFLICT (job_id, scheduled_for, shard, attempt) DO NOTHING
    RETURNING n.id, n.job_id, n.scheduled_for, n.shard
), breaker AS (
    SELECT b.*
      FROM (SELECT jsonb_agg(jsonb_build_object(
                       'run_id', l.id, 'job_id', l.job_id, 'scheduled_for', l.scheduled_for,
                       'failed', true, 'manual', l.trigger = 'manual')) AS outcomes
              FROM released AS l
              JOIN pgsched.jobs AS j ON j.id = l.job_id
             WHERE j.breaker_failures IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM retried AS t
                                WHERE t.job_id = l.job_id AND t.scheduled_for = l.scheduled_for
                                  AND t.shard = l.shard)
            HAVING count(*) > 0) AS s
     CROSS JOIN LATERAL pgsched.breaker_record(s.outcomes) AS b
)
SELECT l.id, l.job_name, l.worker_id, l.attempt, l.scheduled_for, l.error,
       0::float8 AS duration_ms, j.max_attempts, t.id AS retry_run_id,
       b.transition AS breaker_transition, b.failed_slots AS breaker_failed_slots,
       b.open_until AS breaker_open_until, b.queue AS breaker_queue
  FROM released AS l
  LEFT JOIN pgsched.jobs AS j ON j.id = l.job_id
  LEFT JOIN retried AS t
    ON t.job_id = l.job_id AND t.scheduled_for = l.scheduled_for AND t.shard = l.shard
  LEFT JOIN breaker AS b ON b.run_id = l.id;

-- name: breaker_states
-- Circuit breakers not closed in these queues, for the pgsched_circuit_open gauge: read
-- every recovery round by workers that serve metrics, so every worker reports the
-- cluster's state, not only the transitions it made itself.
SELECT j.name AS job_name, j.queue, b.state
  FROM pgsched.job_breakers AS b
  JOIN pgsched.jobs AS j ON j.id = b.job_id
 WHERE j.breaker_failures IS NOT NULL AND b.state <> 'closed' AND j.queue = ANY(%(queues)s);

-- name: retire_orphan_runs
SELECT pgsched.retire_orphan_runs();

-- name: release_held_runs
-- A stopping worker hands back the slots it claimed from the jobs' schedules but
-- has not begun (held for their instant, or waiting for a python process): the
-- claim is undone, its run row removed and the job's next_run moved back to the
-- slot, so another worker claims it as due (under the misfire and overlap rules)
-- and starts it on time. The fence check leaves a run already taken from this
-- worker as it is; a job changed meanwhile (next_run NULL) is rescheduled anyway.
-- The NOTIFY, sent at commit, wakes the other workers at once.
-- A shard of a slot fanned out to shards is handed back as a pending first attempt
-- instead: its sibling shards may already run, and the slot stays claimed.
WITH held AS (
    SELECT r.id, (SELECT j.shards > 1 FROM pgsched.jobs AS j WHERE j.id = r.job_id) AS sharded
      FROM pgsched.runs AS r
      JOIN unnest(%(run_ids)s::bigint[], %(fences)s::bigint[]) AS h(run_id, fence)
        ON r.id = h.run_id AND r.fence = h.fence
     WHERE r.status = 'running'
), handed_back AS (
    UPDATE pgsched.runs AS r
       SET status = 'pending', worker_id = NULL, claimed_at = NULL, fence = NULL,
           available_at = greatest(now(), r.scheduled_for)
      FROM held AS h
     WHERE r.id = h.id AND h.sharded
    RETURNING r.id, r.queue
), released AS (
    DELETE FROM pgsched.runs AS r
     USING held AS h
     WHERE r.id = h.id AND NOT coalesce(h.sharded, false)
    RETURNING r.id, r.job_id, r.scheduled_for, r.queue
), rewound AS (
    UPDATE pgsched.jobs AS j
       SET next_run = s.first_slot
      FROM (SELECT job_id, min(scheduled_for) AS first_slot FROM released GROUP BY job_id) AS s
     WHERE j.id = s.job_id AND j.next_run > s.first_slot
    RETURNING j.id
), reopened AS (
    -- A released probe slot never ran: its breaker is open again, cool-down over, so
    -- the slot (or the next one due) is the probe, whoever claims it.
    UPDATE pgsched.job_breakers AS b
       SET state = 'open', probe_slot = NULL, changed_at = now()
      FROM released AS r
     WHERE b.job_id = r.job_id AND b.state = 'half_open' AND b.probe_slot = r.scheduled_for
)
SELECT array_agg(id) AS run_ids,
       pg_notify('pgsched_wakeup', min(queue)) AS notified,
       (SELECT count(*) FROM rewound) AS rewound
  FROM (SELECT id, queue FROM released UNION ALL SELECT id, queue FROM handed_back) AS b
HAVING count(*) > 0;

-- name: database_clock
-- The database clock at one instant of a short round trip: a held slot waits until
-- the worker's clock says the database's has surely reached its instant, and a
-- claim's own now() bounds that only as tightly as the whole claim took.
SELECT clock_timestamp() AS database_now;

-- name: limit_transaction
-- limit_setting is transaction_timeout on PostgreSQL 17 and later: the server ends
-- the session if this transaction lasts longer, and with it every lock the
-- transaction holds. Before 17 it is idle_in_transaction_session_timeout: the server
-- ends the session if this transaction stays idle (its client silent after a Sync)
-- for longer; the worker syncs where it reads rows it then works on, so a worker
-- frozen there is ended as on 17. For this transaction only: behind a transaction
-- pooler the connection serves other clients next.
SELECT set_config(%(limit_setting)s, %(ms)s, true);
