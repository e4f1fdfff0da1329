-- How late the cluster starts scheduled work: started_at - scheduled_for of first
-- attempts fired on schedule (not catch-ups, retries or manual runs) whose slot lies
-- in the last `minutes` minutes, as p50/p95/p99/max in milliseconds, for all queues
-- (the row whose queue is NULL, always present) and per queue. An alert can fire when
-- the NULL row's p99_ms passes a bound.
--
-- The recent runs of every job are read through the (job_id, scheduled_for, attempt)
-- key, one descent per job within a single index scan, so a short window never
-- scans history (runs of deleted jobs are left out).
CREATE OR REPLACE FUNCTION pgsched.scheduler_lag(minutes integer DEFAULT 60)
RETURNS TABLE (
    queue text,
    runs bigint,
    p50_ms double precision,
    p95_ms double precision,
    p99_ms double precision,
    max_ms double precision
)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
    SELECT l.queue,
           count(l.lag_ms),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY l.lag_ms),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY l.lag_ms),
           percentile_cont(0.99) WITHIN GROUP (ORDER BY l.lag_ms),
           max(l.lag_ms)
      FROM (SELECT r.queue,
                   extract(epoch FROM r.started_at - r.scheduled_for)::double precision * 1000 AS lag_ms
              FROM pgsched.runs AS r
             WHERE r.job_id = ANY(ARRAY(SELECT j.id FROM pgsched.jobs AS j))
               AND r.scheduled_for >= now() - make_interval(mins => greatest(scheduler_lag.minutes, 1))
               AND r.attempt = 1 AND r.trigger = 'schedule' AND r.started_at IS NOT NULL) AS l
     GROUP BY GROUPING SETS ((), (l.queue))
     ORDER BY l.queue NULLS FIRST
$$;

COMMENT ON FUNCTION pgsched.scheduler_lag(integer) IS
    'Lateness of scheduled first attempts (started_at - scheduled_for) over the last `minutes` minutes of slots: runs, p50_ms, p95_ms, p99_ms, max_ms; overall (queue NULL) and per queue.';
