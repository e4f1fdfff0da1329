-- How many attempts need a worker slot now or soon, for an autoscaler (KEDA's
-- PostgreSQL scaler) to size the workers of `queues` (NULL: every queue) by:
--
--   running   attempts running now
--   pending   attempts waiting (retries, manual runs, queued slots) that are
--             available within `lookahead_seconds`
--   due       enabled jobs whose next slot falls within `lookahead_seconds` (or that
--             have no next_run yet) and that run nothing now: their next attempt
--
-- KEDA divides the sum by targetQueryValue: make that one worker's --concurrency and
-- it asks for as many workers as the work fills. A job already running counts once,
-- not again for its next slot. "now" is now() minus pgsched.replica_lag(), so a
-- lagging replica does not count slots the primary has already claimed as due.
-- Runs with its owner's rights: pgsched_reader (the scaler's login) may call it.
--
-- v2: bounded work at any number of jobs. v1 read the due jobs through an index
-- whose leading column (queue) its queue test could not bound: a bitmap scan of
-- every enabled job's entry, 800 buffers at a million jobs, none of them due. Now
-- each queue's jobs are read as the claim reads them (jobs_queue_priority_due_idx,
-- one descent per queue and priority level, then the due entries only), the queues
-- of NULL found by a skip scan of the same index, and the due jobs running now are
-- found from the running attempts and taken off, not looked up one by one (v1's hash
-- of the running runs). Each part stops counting at 100,000: beyond that, the
-- scaler asks for maxReplicaCount whatever the count (100,000 / a targetQueryValue
-- of 10 is 10,000 replicas), and counting a herd of a million due jobs would cost
-- seconds.
CREATE OR REPLACE FUNCTION pgsched.worker_demand(
    queues text[] DEFAULT NULL,
    lookahead_seconds integer DEFAULT 30
)
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off AS $$
    WITH RECURSIVE horizon AS MATERIALIZED (
        SELECT now() - pgsched.replica_lag()
               + make_interval(secs => greatest(worker_demand.lookahead_seconds, 0)) AS at
    ), every_queue (queue) AS (
        -- Only for queues NULL: the first queue, then the next above each.
        (SELECT j.queue FROM pgsched.jobs AS j
          WHERE j.enabled AND worker_demand.queues IS NULL
          ORDER BY j.queue LIMIT 1)
        UNION ALL
        SELECT (SELECT j.queue FROM pgsched.jobs AS j
                 WHERE j.enabled AND j.queue > e.queue
                 ORDER BY j.queue LIMIT 1)
          FROM every_queue AS e
         WHERE e.queue IS NOT NULL
    ), served AS (
        SELECT queue FROM every_queue WHERE queue IS NOT NULL
        UNION
        SELECT unnest(worker_demand.queues)
    ), busy AS MATERIALIZED (
        -- Due jobs that run something now: counted among the due, then taken off (a
        -- job already running counts once). Read from the running attempts, as many
        -- as the workers' --concurrency, not by a lookup for each due job.
        SELECT count(DISTINCT j.id) AS jobs
          FROM pgsched.runs AS r
          JOIN pgsched.jobs AS j ON j.id = r.job_id, horizon
         WHERE r.status = 'running' AND j.enabled
           AND coalesce(j.next_run, '-infinity'::timestamptz) <= horizon.at
           AND j.queue IN (SELECT queue FROM served)
    )
    SELECT (SELECT count(*) FROM (
                SELECT 1 FROM pgsched.runs AS r
                 WHERE r.status = 'running'
                   AND (worker_demand.queues IS NULL OR r.queue = ANY(worker_demand.queues))
                 LIMIT 100000) AS running)
         + (SELECT count(*) FROM (
                SELECT 1 FROM pgsched.runs AS r, horizon
                 WHERE r.status = 'pending' AND r.available_at <= horizon.at
                   AND (worker_demand.queues IS NULL OR r.queue = ANY(worker_demand.queues))
                 LIMIT 100000) AS pending)
         + (SELECT greatest(0, count(*) - min(busy.jobs)) FROM (
                SELECT 1
                  FROM served AS q
                 CROSS JOIN LATERAL (
                      WITH RECURSIVE levels (priority) AS (
                            (SELECT d.priority FROM pgsched.jobs AS d
                              WHERE d.enabled AND d.queue = q.queue
                              ORDER BY d.priority DESC LIMIT 1)
                            UNION ALL
                            SELECT (SELECT d.priority FROM pgsched.jobs AS d
                                     WHERE d.enabled AND d.queue = q.queue
                                       AND d.priority < l.priority
                                     ORDER BY d.priority DESC LIMIT 1)
                              FROM levels AS l
                             WHERE l.priority IS NOT NULL
                      )
                      SELECT l.priority FROM levels AS l WHERE l.priority IS NOT NULL
                 ) AS l
                 CROSS JOIN horizon
                 CROSS JOIN LATERAL (
                      -- The level's due range: (queue, priority) equal, due bounded, a
                      -- range of jobs_queue_priority_due_idx (a row comparison on
                      -- (priority, due), as the claim's, bounds only priority there, a
                      -- DESC column: it read the level's every entry). In index order:
                      -- the planner, which cannot see the horizon, takes a third of the
                      -- level for due and would scan the table.
                      SELECT 1 FROM pgsched.jobs AS j
                       WHERE j.enabled AND j.queue = q.queue AND j.priority = l.priority
                         AND coalesce(j.next_run, '-infinity'::timestamptz) <= horizon.at
                       ORDER BY coalesce(j.next_run, '-infinity'::timestamptz)
                       LIMIT (SELECT 100000 + busy.jobs FROM busy)) AS j
                 LIMIT (SELECT 100000 + busy.jobs FROM busy)) AS due, busy)
$$;

COMMENT ON FUNCTION pgsched.worker_demand(text[], integer) IS
    'Attempts that need a worker slot now or within lookahead_seconds, in queues (NULL: all): running ones, pending ones available by then, and enabled jobs due by then that run nothing now, each of the three counted up to 100,000. For KEDA''s PostgreSQL scaler, with targetQueryValue = one worker''s --concurrency.';
