-- A manual run: a pending attempt available at once, plus a wake-up for workers.
-- v2: refuses a job a worker found invalid (last_error set) with that error, and
-- runs with its owner's rights so that pgsched_admin needs only EXECUTE.
-- v3: records the request in the job's audit trail (pgsched.job_changes), with the
-- new run's id.
-- v4: a job with shards gets one manual attempt per shard (0..shards-1), one slot;
-- the id returned is shard 0's.
CREATE OR REPLACE FUNCTION pgsched.run_now(job_name text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
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
    IF job.last_error IS NOT NULL THEN
        RAISE EXCEPTION 'pgsched.run_now: job % is invalid: %', quote_literal(job.name), job.last_error
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Fix the job with UPDATE pgsched.jobs; changing its definition clears last_error.';
    END IF;
    -- clock_timestamp, not now(): two manual runs in one transaction are two slots.
    WITH added AS (
        INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, shard, status, trigger,
                                  available_at, queue)
        SELECT job.id, job.name, s.slot, s.shard, 'pending', 'manual', now(), job.queue
          FROM (SELECT clock_timestamp() AS slot) AS t
         CROSS JOIN LATERAL (SELECT t.slot, g AS shard
                               FROM generate_series(0, job.shards - 1) AS g) AS s
        RETURNING id, shard
    )
    SELECT a.id INTO new_run_id FROM added AS a WHERE a.shard = 0;
    PERFORM pgsched.record_job_change(job.id, job.name, 'run_now', NULL,
                                      jsonb_build_object('run_id', new_run_id));
    PERFORM pg_notify('pgsched_wakeup', job.queue);
    RETURN new_run_id;
END;
$$;

COMMENT ON FUNCTION pgsched.run_now(text) IS
    'Queues a manual run of the job, records it in pgsched.job_changes and wakes the workers; returns the new run id (shard 0''s: a sharded job gets one attempt per shard). Refuses an unknown job, or one whose last_error says it is invalid.';
