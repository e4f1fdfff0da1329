-- One job hour by hour over the last `hours` hours, the current hour last, empty
-- hours included. A run belongs to the hour of its slot (scheduled_for), as
-- date_trunc('hour') gives it in the session's time zone. executions counts the
-- attempts that started (whatever their outcome, running ones included);
-- successes and failures are counted as in job_stats, and avg_duration_ms is over
-- those.
--
-- v2: slots, succeeded_slots and failed_slots count each slot of the hour once, by
-- the rule of job_stats' slot figures (pgsched.job_slot_outcomes): succeeded when
-- every shard's latest attempt did, failed when one's failed, timed out or was lost,
-- not counted while a shard runs or waits. The other figures count attempts.
CREATE FUNCTION pgsched.job_timeline(job_name text, hours integer DEFAULT 24)
RETURNS TABLE (
    time_bucket timestamptz,
    executions bigint,
    successes bigint,
    failures bigint,
    avg_duration_ms double precision,
    slots bigint,
    succeeded_slots bigint,
    failed_slots bigint
)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- A year of hours; longer ranges are better read with job_stats.
    max_hours constant integer := 24 * 366;
    last_bucket constant timestamptz := date_trunc('hour', now());
    first_bucket constant timestamptz :=
        date_trunc('hour', now()) - make_interval(hours => greatest(job_timeline.hours, 1) - 1);
BEGIN
    IF hours IS NULL OR hours < 1 OR hours > max_hours THEN
        RAISE EXCEPTION 'pgsched.job_timeline: hours must be between 1 and %, not %',
                        max_hours, coalesce(hours::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pgsched.jobs AS j WHERE j.name = job_timeline.job_name)
       AND NOT EXISTS (SELECT 1 FROM pgsched.runs AS r
                        WHERE r.job_id IS NULL AND r.job_name = job_timeline.job_name) THEN
        RAISE EXCEPTION 'pgsched.job_timeline: no job named %', quote_literal(job_timeline.job_name)
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT name FROM pgsched.jobs lists the jobs.';
    END IF;
    RETURN QUERY
    WITH per_hour AS (
        SELECT date_trunc('hour', r.scheduled_for) AS bucket,
               count(*) FILTER (WHERE r.started_at IS NOT NULL) AS executions,
               count(*) FILTER (WHERE r.status = 'succeeded') AS successes,
               count(*) FILTER (WHERE r.status IN ('failed', 'timed_out', 'lost')) AS failures,
               avg(r.duration_ms) FILTER (WHERE r.status IN ('succeeded', 'failed', 'timed_out', 'lost'))
                   AS avg_duration_ms
          FROM pgsched.job_runs(job_timeline.job_name, first_bucket) AS r
         GROUP BY 1
    ), latest AS (
        SELECT DISTINCT ON (r.scheduled_for, r.shard) r.scheduled_for, r.status
          FROM pgsched.job_runs(job_timeline.job_name, first_bucket) AS r
         ORDER BY r.scheduled_for, r.shard, r.attempt DESC
    ), ended AS (
        SELECT date_trunc('hour', l.scheduled_for) AS bucket,
               bool_or(l.status IN ('running', 'pending')) AS unfinished,
               bool_or(l.status IN ('failed', 'timed_out', 'lost')) AS failed,
               bool_and(l.status = 'succeeded') AS succeeded
          FROM latest AS l
         GROUP BY l.scheduled_for
    ), slots_per_hour AS (
        SELECT e.bucket,
               count(*) FILTER (WHERE e.succeeded OR (e.failed AND NOT e.unfinished)) AS slots,
               count(*) FILTER (WHERE e.succeeded) AS succeeded,
               count(*) FILTER (WHERE e.failed AND NOT e.unfinished) AS failed
          FROM ended AS e
         GROUP BY e.bucket
    )
    SELECT b.bucket, coalesce(p.executions, 0), coalesce(p.successes, 0),
           coalesce(p.failures, 0), p.avg_duration_ms, coalesce(s.slots, 0),
           coalesce(s.succeeded, 0), coalesce(s.failed, 0)
      FROM generate_series(first_bucket, last_bucket, interval '1 hour') AS b(bucket)
      LEFT JOIN per_hour AS p ON p.bucket = b.bucket
      LEFT JOIN slots_per_hour AS s ON s.bucket = b.bucket
     ORDER BY b.bucket;
END;
$$;

COMMENT ON FUNCTION pgsched.job_timeline(text, integer) IS
    'One job per hour of slot over the last `hours` hours (current hour last, empty hours included): time_bucket, executions (attempts started), successes, failures (failed/timed_out/lost), avg_duration_ms of those, all counting attempts; slots, succeeded_slots, failed_slots count each slot that ended once, whatever its retries and shards.';
