-- A manual run: a pending attempt available at once, plus a wake-up for workers.
CREATE OR REPLACE FUNCTION pgsched.run_now(job_name text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    job pgsched.jobs;
    new_run_id bigint;
BEGIN
    SELECT * INTO job FROM pgsched.jobs AS j WHERE j.name = run_now.job_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pgsched.run_now: no job named %', quote_literal(run_now.job_name)
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT name FROM pgsched.jobs lists the jobs.';
    END IF;
    -- clock_timestamp, not now(): two manual runs in one transaction are two slots.
    INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, trigger, available_at, queue)
    VALUES (job.id, job.name, clock_timestamp(), 'pending', 'manual', now(), job.queue)
    RETURNING id INTO new_run_id;
    PERFORM pg_notify('pgsched_wakeup', job.queue);
    RETURN new_run_id;
END;
$$;

COMMENT ON FUNCTION pgsched.run_now(text) IS
    'Queues a manual run of the job and wakes the workers; returns the new run id.';
