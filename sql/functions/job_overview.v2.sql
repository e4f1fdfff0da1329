-- One job as the dashboard and the HTTP API show it: its definition
-- (pgsched.job_definitions) and its health (pgsched.job_health).
--
-- A plpgsql function, not a view: called with one name, its plan looks the job up
-- by that name all the way down, where a join of the views for a list of names
-- would total the success rates of every job first (milliseconds at 10,000 jobs).
-- Its plan is cached per session. With the caller's rights: both views are the
-- reader's to read.
-- v2: shards, as a new last column.
CREATE FUNCTION pgsched.job_overview(job_name text)
RETURNS TABLE (
    name text,
    schedule text,
    timezone text,
    kind text,
    target text,
    args jsonb,
    enabled boolean,
    timeout_seconds integer,
    max_attempts integer,
    retry_delay_seconds integer,
    overlap text,
    misfire text,
    misfire_threshold_seconds integer,
    queue text,
    priority integer,
    category text,
    description text,
    next_run timestamptz,
    last_error text,
    created_at timestamptz,
    updated_at timestamptz,
    modified_by text,
    last_run_id bigint,
    last_run_scheduled_for timestamptz,
    last_run_started_at timestamptz,
    last_run_status text,
    total_runs bigint,
    success_rate_percentage numeric,
    health text,
    avg_duration_ms double precision,
    p95_lag_ms double precision,
    shards integer
)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY
    SELECT d.name, d.schedule, d.timezone, d.kind, d.target, d.args, d.enabled,
           d.timeout_seconds, d.max_attempts, d.retry_delay_seconds, d.overlap, d.misfire,
           d.misfire_threshold_seconds, d.queue, d.priority, d.category, d.description,
           d.next_run, d.last_error, d.created_at, d.updated_at, d.modified_by,
           h.last_run_id, h.last_run_scheduled_for, h.last_run_started_at, h.last_run_status,
           h.total_runs, h.success_rate_percentage, h.health, h.avg_duration_ms, h.p95_lag_ms,
           d.shards
      FROM pgsched.job_definitions AS d
      JOIN pgsched.job_health AS h ON h.job_name = d.name
     WHERE d.name = job_overview.job_name;
END;
$$;

COMMENT ON FUNCTION pgsched.job_overview(text) IS
    'One job''s definition (pgsched.job_definitions) and health (pgsched.job_health): schedule, state, next_run, latest run, 30-day success rate and health word, p95_lag_ms, shards; no row for an unknown name.';
