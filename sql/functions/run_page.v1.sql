-- A page of runs (attempts), newest recorded first (by id), for the runs list of the
-- dashboard and the HTTP API: optionally one job's (by its current name, or a deleted
-- job's runs left under that name), one status, slots (scheduled_for) in
-- [since, until), and only ids below before_id, the cursor of the previous page.
-- Without output (up to 64,000 characters each): pgsched.run_detail reads one run's.
-- With its owner's rights: pgsched_reader may not read pgsched.runs, which holds
-- more than the 7 days pgsched.recent_runs shows.
CREATE OR REPLACE FUNCTION pgsched.run_page(
    job_name text DEFAULT NULL,
    status text DEFAULT NULL,
    since timestamptz DEFAULT NULL,
    until timestamptz DEFAULT NULL,
    before_id bigint DEFAULT NULL,
    n integer DEFAULT 50
)
RETURNS TABLE (
    id bigint,
    job_id bigint,
    job_name text,
    scheduled_for timestamptz,
    attempt integer,
    status text,
    trigger text,
    queue text,
    worker_id text,
    started_at timestamptz,
    finished_at timestamptz,
    duration_ms double precision,
    error text
)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
    WITH job AS MATERIALIZED (
        SELECT (SELECT j.id FROM pgsched.jobs AS j WHERE j.name = run_page.job_name) AS id
    )
    SELECT r.id, r.job_id, r.job_name, r.scheduled_for, r.attempt, r.status, r.trigger, r.queue,
           r.worker_id, r.started_at, r.finished_at, r.duration_ms, r.error
      FROM job, pgsched.runs AS r
     WHERE (run_page.job_name IS NULL
            OR r.job_id = job.id
            OR (job.id IS NULL AND r.job_id IS NULL AND r.job_name = run_page.job_name))
       AND (run_page.status IS NULL OR r.status = run_page.status)
       AND (run_page.since IS NULL OR r.scheduled_for >= run_page.since)
       AND (run_page.until IS NULL OR r.scheduled_for < run_page.until)
       AND (run_page.before_id IS NULL OR r.id < run_page.before_id)
     ORDER BY r.id DESC
     LIMIT least(greatest(run_page.n, 1), 500)
$$;

COMMENT ON FUNCTION pgsched.run_page(text, text, timestamptz, timestamptz, bigint, integer) IS
    'Runs newest first by id, at most n (up to 500): optionally of one job, of one status, with slots in [since, until), and with ids below before_id (the cursor of the previous page). Without output.';
