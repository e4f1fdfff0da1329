-- One job's figures over the last `days` days of slots (scheduled_for), read from
-- its runs. Counted runs are those with an outcome: succeeded is a success;
-- failed, timed_out and lost are failures; skipped, cancelled, pending and running
-- are left out of every figure here. Durations are those of counted runs;
-- p95 is interpolated (percentile_cont).
CREATE OR REPLACE FUNCTION pgsched.job_stats(job_name text, days integer DEFAULT 30)
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
    last_failure_at timestamptz
)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
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
    RETURN QUERY
    WITH counted AS (
        SELECT r.status = 'succeeded' AS succeeded, r.duration_ms, r.started_at, r.finished_at
          FROM pgsched.job_runs(job_stats.job_name, now() - make_interval(days => job_stats.days)) AS r
         WHERE r.status IN ('succeeded', 'failed', 'timed_out', 'lost')
    )
    SELECT count(*),
           count(*) FILTER (WHERE c.succeeded),
           count(*) FILTER (WHERE NOT c.succeeded),
           round(100.0 * count(*) FILTER (WHERE c.succeeded) / nullif(count(*), 0), 2),
           avg(c.duration_ms),
           min(c.duration_ms),
           max(c.duration_ms),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY c.duration_ms),
           max(c.started_at),
           max(c.finished_at) FILTER (WHERE c.succeeded),
           max(c.finished_at) FILTER (WHERE NOT c.succeeded)
      FROM counted AS c;
END;
$$;

COMMENT ON FUNCTION pgsched.job_stats(text, integer) IS
    'One job over the last `days` days of slots: total_runs (succeeded + failed/timed_out/lost), successful_runs, failed_runs, success_rate (%), avg/min/max/p95 duration_ms, last_run_at (latest start), last_success_at and last_failure_at (latest finish).';
