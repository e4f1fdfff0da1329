-- One job hour by hour over the last `hours` hours, the current hour last, empty
-- hours included. A run belongs to the hour of its slot (scheduled_for), as
-- date_trunc('hour') gives it in the session's time zone. executions counts the
-- attempts that started (whatever their outcome, running ones included);
-- successes and failures are counted as in job_stats, and avg_duration_ms is over
-- those.
CREATE OR REPLACE FUNCTION pgsched.job_timeline(job_name text, hours integer DEFAULT 24)
RETURNS TABLE (
    time_bucket timestamptz,
    executions bigint,
    successes bigint,
    failures bigint,
    avg_duration_ms double precision
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
    )
    SELECT b.bucket, coalesce(p.executions, 0), coalesce(p.successes, 0),
           coalesce(p.failures, 0), p.avg_duration_ms
      FROM generate_series(first_bucket, last_bucket, interval '1 hour') AS b(bucket)
      LEFT JOIN per_hour AS p ON p.bucket = b.bucket
     ORDER BY b.bucket;
END;
$$;

COMMENT ON FUNCTION pgsched.job_timeline(text, integer) IS
    'One job per hour of slot over the last `hours` hours (current hour last, empty hours included): time_bucket, executions (attempts started), successes, failures (failed/timed_out/lost), avg_duration_ms of those.';
