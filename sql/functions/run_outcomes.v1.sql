-- Outcomes of the whole cluster over the last `days` days of slots, bucketed for a
-- chart: succeeded, and failed (failed, timed_out, lost), as job_stats counts them.
--
--   days = 1   24 hourly buckets (the current hour last), counted from the runs:
--              one descent of the (job_id, scheduled_for, attempt) key per job.
--   days > 1   one bucket per UTC day (today last), read from
--              pgsched.daily_run_totals, whose cost does not grow with the runs.
--
-- Empty buckets are included. With its owner's rights: pgsched_reader may read
-- neither pgsched.runs nor the totals.
CREATE OR REPLACE FUNCTION pgsched.run_outcomes(days integer DEFAULT 7)
RETURNS TABLE (bucket timestamptz, bucket_hours integer, succeeded bigint, failed bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    today constant date := (now() AT TIME ZONE 'UTC')::date;
    this_hour constant timestamptz := date_trunc('hour', now());
BEGIN
    IF days IS NULL OR days < 1 OR days > 366 THEN
        RAISE EXCEPTION 'pgsched.run_outcomes: days must be between 1 and 366, not %',
                        coalesce(days::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF days = 1 THEN
        RETURN QUERY
        WITH per_hour AS (
            SELECT date_trunc('hour', r.scheduled_for) AS hour,
                   count(*) FILTER (WHERE r.status = 'succeeded') AS succeeded,
                   count(*) FILTER (WHERE r.status IN ('failed', 'timed_out', 'lost')) AS failed
              FROM pgsched.runs AS r
             WHERE r.job_id = ANY(ARRAY(SELECT j.id FROM pgsched.jobs AS j))
               AND r.scheduled_for >= this_hour - interval '23 hours'
             GROUP BY 1
        )
        SELECT h.hour, 1, coalesce(p.succeeded, 0), coalesce(p.failed, 0)
          FROM generate_series(this_hour - interval '23 hours', this_hour, interval '1 hour') AS h(hour)
          LEFT JOIN per_hour AS p ON p.hour = h.hour
         ORDER BY h.hour;
        RETURN;
    END IF;
    RETURN QUERY
    WITH per_day AS (
        SELECT t.day, sum(t.successful_runs)::bigint AS succeeded,
               sum(t.failed_runs)::bigint AS failed
          FROM pgsched.daily_run_totals AS t
         WHERE t.day > today - days
         GROUP BY t.day
    )
    SELECT (d.day::timestamp AT TIME ZONE 'UTC'), 24, coalesce(p.succeeded, 0), coalesce(p.failed, 0)
      FROM generate_series(today - (days - 1), today, interval '1 day') AS d(day)
      LEFT JOIN per_day AS p ON p.day = d.day::date
     ORDER BY d.day;
END;
$$;

COMMENT ON FUNCTION pgsched.run_outcomes(integer) IS
    'Cluster-wide outcomes per bucket of slots, empty buckets included: for days = 1, 24 hours (from the runs); for more, one bucket per UTC day (from daily_run_totals). succeeded, and failed (failed, timed_out, lost).';
