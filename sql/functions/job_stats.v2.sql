-- One job's figures over the last `days` days of slots (scheduled_for), read from
-- its runs. Counted runs are those with an outcome: succeeded is a success;
-- failed, timed_out and lost are failures; skipped, cancelled, pending and running
-- are left out of every figure here. Durations are those of counted runs;
-- p95 is interpolated (percentile_cont).
--
-- v2: the run figures count attempts (a retried slot counts each attempt, a slot
-- fanned out to N shards counts N); the slot figures count each slot once, by the
-- rule of job_slot_outcomes: each shard ends as its latest attempt did, a slot
-- failed when any shard's latest attempt is a failure and succeeded only when every
-- shard's is a success. A slot with a shard still running or pending, or one
-- cancelled or skipped, is left out until it ends so. An unsharded job's slot is its
-- last attempt, so retries that ended in success make one succeeded slot.
-- The latest attempt of each (slot, shard) comes from one backward walk of the
-- runs' (job_id, scheduled_for, shard, attempt) key over the window, without a sort;
-- the query is built with the job's predicate (a live job's id, or a deleted job's
-- name), so each is planned on its own index path.
CREATE FUNCTION pgsched.job_stats(job_name text, days integer DEFAULT 30)
RETURNS TABLE (
    total_runs bigint,
    successful_runs bigint,
    failed_runs bigint,
    success_rate numeric,
    avg_duration_ms double precision,
    min_duration_ms double precision,
    max_duration_ms double precision,
    p95_duration_ms double precision,
    last_run_at timestamptz,
    last_success_at timestamptz,
    last_failure_at timestamptz,
    slots bigint,
    succeeded_slots bigint,
    failed_slots bigint,
    slot_success_rate numeric
)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    since timestamptz;
    job_id bigint;
BEGIN
    IF days IS NULL OR days < 1 THEN
        RAISE EXCEPTION 'pgsched.job_stats: days must be 1 or more, not %', coalesce(days::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pgsched.jobs AS j WHERE j.name = job_stats.job_name)
       AND NOT EXISTS (SELECT 1 FROM pgsched.runs AS r
                        WHERE r.job_id IS NULL AND r.job_name = job_stats.job_name) THEN
        RAISE EXCEPTION 'pgsched.job_stats: no job named %', quote_literal(job_stats.job_name)
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT name FROM pgsched.jobs lists the jobs.';
    END IF;
    since := now() - make_interval(days => job_stats.days);
    -- By the id of the job now so named (its history survives a rename), else the
    -- runs a deleted job left under the name, as pgsched.job_runs reads them. Read
    -- here rather than through job_runs: a function with a pinned search_path is
    -- never inlined, and its rows would come unordered and be sorted.
    SELECT j.id INTO job_id FROM pgsched.jobs AS j WHERE j.name = job_stats.job_name;
    RETURN QUERY EXECUTE format($query$
    WITH counted AS (
        SELECT r.status = 'succeeded' AS succeeded, r.duration_ms, r.started_at, r.finished_at
          FROM pgsched.runs AS r
         WHERE %1$s AND r.scheduled_for >= $3
           AND r.status IN ('succeeded', 'failed', 'timed_out', 'lost')
    ), runs AS (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE c.succeeded) AS succeeded,
               count(*) FILTER (WHERE NOT c.succeeded) AS failed,
               avg(c.duration_ms) AS avg_ms,
               min(c.duration_ms) AS min_ms,
               max(c.duration_ms) AS max_ms,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY c.duration_ms) AS p95_ms,
               max(c.started_at) AS last_run_at,
               max(c.finished_at) FILTER (WHERE c.succeeded) AS last_success_at,
               max(c.finished_at) FILTER (WHERE NOT c.succeeded) AS last_failure_at
          FROM counted AS c
    ), latest AS (
        -- Each shard's latest attempt of each slot: the key read backwards, no sort.
        SELECT DISTINCT ON (r.scheduled_for, r.shard) r.scheduled_for, r.status
          FROM pgsched.runs AS r
         WHERE %1$s AND r.scheduled_for >= $3
         ORDER BY r.scheduled_for DESC, r.shard DESC, r.attempt DESC
    ), ended AS (
        -- The slot's status as job_slot_outcomes ranks it: an unfinished shard
        -- first, then a failure, then cancelled or skipped, succeeded last.
        SELECT bool_or(l.status IN ('running', 'pending')) AS unfinished,
               bool_or(l.status IN ('failed', 'timed_out', 'lost')) AS failed,
               bool_and(l.status = 'succeeded') AS succeeded
          FROM latest AS l
         GROUP BY l.scheduled_for
    ), slot_counts AS (
        SELECT count(*) FILTER (WHERE e.succeeded OR (e.failed AND NOT e.unfinished)) AS total,
               count(*) FILTER (WHERE e.succeeded) AS succeeded,
               count(*) FILTER (WHERE e.failed AND NOT e.unfinished) AS failed
          FROM ended AS e
    )
    SELECT r.total, r.succeeded, r.failed,
           round(100.0 * r.succeeded / nullif(r.total, 0), 2),
           r.avg_ms, r.min_ms, r.max_ms, r.p95_ms,
           r.last_run_at, r.last_success_at, r.last_failure_at,
           s.total, s.succeeded, s.failed,
           round(100.0 * s.succeeded / nullif(s.total, 0), 2)
      FROM runs AS r, slot_counts AS s
    $query$,
    CASE WHEN job_id IS NOT NULL THEN 'r.job_id = $1'
         ELSE 'r.job_id IS NULL AND r.job_name = $2' END)
    USING job_id, job_stats.job_name, since;
END;
$$;

COMMENT ON FUNCTION pgsched.job_stats(text, integer) IS
    'One job over the last `days` days of slots: total_runs (attempts: succeeded + failed/timed_out/lost), successful_runs, failed_runs, success_rate (%), avg/min/max/p95 duration_ms, last_run_at (latest start), last_success_at and last_failure_at (latest finish); slots (each slot once, whatever its retries and shards), succeeded_slots (every shard''s latest attempt succeeded), failed_slots (a shard''s latest attempt failed, timed out or was lost), slot_success_rate (%).';
