-- Closes a job's circuit breaker by hand: its next due slot runs as usual. Records
-- the reset in the job's audit trail (pgsched.job_changes, change 'reset_breaker',
-- with the state it had). Runs with its owner's rights so that pgsched_admin needs
-- only EXECUTE. Returns the state the breaker had ('closed' when there was nothing
-- to reset).
CREATE OR REPLACE FUNCTION pgsched.reset_breaker(job_name text)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    job pgsched.jobs;
    b pgsched.job_breakers;
BEGIN
    SELECT * INTO job FROM pgsched.jobs AS j WHERE j.name = reset_breaker.job_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pgsched.reset_breaker: no job named %', quote_literal(reset_breaker.job_name)
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT name FROM pgsched.jobs lists the jobs.';
    END IF;
    DELETE FROM pgsched.job_breakers AS k WHERE k.job_id = job.id RETURNING k.* INTO b;
    IF NOT FOUND THEN
        RETURN 'closed';
    END IF;
    PERFORM pgsched.record_job_change(
        job.id, job.name, 'reset_breaker',
        jsonb_build_object('breaker_state', b.state, 'failed_slots', b.failed_slots,
                           'open_until', b.open_until),
        jsonb_build_object('breaker_state', 'closed'));
    PERFORM pg_notify('pgsched_wakeup', job.queue);
    RETURN b.state;
END;
$$;

COMMENT ON FUNCTION pgsched.reset_breaker(text) IS
    'Closes the job''s circuit breaker by hand and records it in pgsched.job_changes; returns the state it had.';
