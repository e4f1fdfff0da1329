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
CREATE OR REPLACE FUNCTION pgsched.worker_demand(
    queues text[] DEFAULT NULL,
    lookahead_seconds integer DEFAULT 30
)
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
    WITH horizon AS MATERIALIZED (
        SELECT now() - pgsched.replica_lag()
               + make_interval(secs => greatest(worker_demand.lookahead_seconds, 0)) AS at
    )
    SELECT (SELECT count(*) FROM pgsched.runs AS r
             WHERE r.status = 'running'
               AND (worker_demand.queues IS NULL OR r.queue = ANY(worker_demand.queues)))
         + (SELECT count(*) FROM pgsched.runs AS r, horizon
             WHERE r.status = 'pending' AND r.available_at <= horizon.at
               AND (worker_demand.queues IS NULL OR r.queue = ANY(worker_demand.queues)))
         + (SELECT count(*) FROM pgsched.jobs AS j, horizon
             WHERE j.enabled
               AND coalesce(j.next_run, '-infinity'::timestamptz) <= horizon.at
               AND (worker_demand.queues IS NULL OR j.queue = ANY(worker_demand.queues))
               AND NOT EXISTS (SELECT 1 FROM pgsched.runs AS r
                                WHERE r.job_id = j.id AND r.status = 'running'))
$$;

COMMENT ON FUNCTION pgsched.worker_demand(text[], integer) IS
    'Attempts that need a worker slot now or within lookahead_seconds, in queues (NULL: all): running ones, pending ones available by then, and enabled jobs due by then that run nothing now. For KEDA''s PostgreSQL scaler, with targetQueryValue = one worker''s --concurrency.';
