-- One run with its output, for readers (pgsched_reader may not read pgsched.runs).
CREATE OR REPLACE FUNCTION pgsched.run_detail(run_id bigint)
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
    error text,
    output text,
    missed_until timestamptz,
    missed_slots integer,
    created_at timestamptz
)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
    SELECT r.id, r.job_id, r.job_name, r.scheduled_for, r.attempt, r.status, r.trigger, r.queue,
           r.worker_id, r.started_at, r.finished_at, r.duration_ms, r.error, r.output,
           r.missed_until, r.missed_slots, r.created_at
      FROM pgsched.runs AS r
     WHERE r.id = run_detail.run_id
$$;

COMMENT ON FUNCTION pgsched.run_detail(bigint) IS
    'One run by id, every column but the claim''s bookkeeping (fence, available_at), output included; no row for an unknown id.';
