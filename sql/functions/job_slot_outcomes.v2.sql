-- The latest `n` slots of each named job, newest first, with how each slot ended:
-- the status of its latest attempt (a retried slot ends as its last attempt did),
-- how many attempts it took, and the first line of that attempt's error. A gap
-- record (status skipped, missed_until set) stands for missed_slots passed-over slots.
--
-- v2: a slot fanned out to shards is one row. Each shard ends as its latest attempt
-- did; the slot takes the status of its shard that matters most: running, pending,
-- a failure (failed, timed_out, lost), cancelled, skipped, and succeeded only when
-- every shard did. run_id, trigger, error and the gap columns are that shard's;
-- attempts is the most any shard took; shards counts the slot's shards and
-- failed_shards those that ended in a failure. An unsharded job reads as in v1.
--
-- One backward walk of the runs' (job_id, scheduled_for, shard, attempt) key per
-- job, stopping after n slots, then one range of it per slot, so its cost is
-- jobs x n x shards whatever the history's size.
-- With its owner's rights: pgsched_reader may not read pgsched.runs.
CREATE FUNCTION pgsched.job_slot_outcomes(job_names text[], n integer DEFAULT 60)
RETURNS TABLE (
    job_name text,
    scheduled_for timestamptz,
    status text,
    attempts integer,
    trigger text,
    run_id bigint,
    missed_until timestamptz,
    missed_slots integer,
    error text,
    shards integer,
    failed_shards integer
)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
    SELECT j.name, s.scheduled_for, w.status, o.attempts, w.trigger, w.id, w.missed_until,
           w.missed_slots, split_part(w.error, E'\n', 1), o.shards, o.failed_shards
      FROM pgsched.jobs AS j
     CROSS JOIN LATERAL (
            SELECT DISTINCT r.scheduled_for
              FROM pgsched.runs AS r
             WHERE r.job_id = j.id
             ORDER BY r.scheduled_for DESC
             LIMIT least(greatest(job_slot_outcomes.n, 1), 1000)) AS s
     CROSS JOIN LATERAL (
            SELECT (array_agg(l.id ORDER BY CASE l.status WHEN 'running' THEN 1
                                                           WHEN 'pending' THEN 2
                                                           WHEN 'cancelled' THEN 4
                                                           WHEN 'skipped' THEN 5
                                                           WHEN 'succeeded' THEN 6
                                                           ELSE 3 END,
                                        l.shard))[1] AS run_id,
                   max(l.attempt)::integer AS attempts,
                   count(*)::integer AS shards,
                   count(*) FILTER (WHERE l.status IN ('failed', 'timed_out', 'lost'))::integer
                       AS failed_shards
              FROM (SELECT DISTINCT ON (x.shard) x.*
                      FROM pgsched.runs AS x
                     WHERE x.job_id = j.id AND x.scheduled_for = s.scheduled_for
                     ORDER BY x.shard, x.attempt DESC) AS l) AS o
      JOIN pgsched.runs AS w ON w.id = o.run_id
     WHERE j.name = ANY(job_slot_outcomes.job_names)
     ORDER BY j.name, s.scheduled_for DESC
$$;

COMMENT ON FUNCTION pgsched.job_slot_outcomes(text[], integer) IS
    'The latest n (at most 1,000) slots of each named job, newest first, one row per slot whatever its shards: scheduled_for, status (running, pending, a failure, cancelled, skipped, or succeeded when every shard did), attempts, trigger, run_id, missed_until and missed_slots of a gap record, the first line of the error, shards and failed_shards.';
