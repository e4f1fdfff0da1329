-- Replay: a new attempt of a finished run's slot (same job, same scheduled_for),
-- trigger 'manual', available at once. failed_runs is the dead-letter queue it
-- replays from; any finished attempt may be replayed (a success too: "run that day
-- again"). The new attempt is numbered after the slot's last one, so the one first
-- attempt per slot that runs_job_id_scheduled_for_attempt_key guarantees is kept,
-- and the slot's outcome becomes the replay's. A replay is one attempt: it is at or
-- past max_attempts, so next_attempt_at grants it no retry of its own.
--
-- Idempotent per slot: while an attempt of the slot is pending or running (a replay
-- asked for a moment ago, or a retry the worker queued), that attempt's id is
-- returned and nothing is added. Concurrent calls for one slot take turns on an
-- advisory lock, and each statement below reads a fresh snapshot, so the second
-- sees the first's attempt once it committed.
--
-- Refused: an unknown run; one not finished (pending, running); a skipped record
-- (it stands for slots that never ran; run_now runs the job); a deleted job's run;
-- a disabled job (the operator stopped it: enable it first); an invalid job
-- (last_error set, as run_now refuses it).
-- v2: per shard: a shard's run is replayed as that shard (its own attempts, lock and
-- pending check); an unsharded job's as in v1.
CREATE OR REPLACE FUNCTION pgsched.retry_run(run_id bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old pgsched.runs;
    job pgsched.jobs;
    active_id bigint;
    new_run_id bigint;
    new_attempt integer;
BEGIN
    SELECT * INTO old FROM pgsched.runs AS r WHERE r.id = retry_run.run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pgsched.retry_run: no run with id %', retry_run.run_id
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT id, job_name, status FROM pgsched.failed_runs lists failures.';
    END IF;
    IF old.status IN ('pending', 'running') THEN
        RAISE EXCEPTION 'pgsched.retry_run: run % is not finished (it is %)', old.id, old.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Only a finished attempt can be replayed.';
    END IF;
    IF old.status = 'skipped' THEN
        RAISE EXCEPTION 'pgsched.retry_run: run % is a skipped record, not an attempt', old.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Its slots never ran; pgsched.run_now(job_name) runs the job now.';
    END IF;
    SELECT * INTO job FROM pgsched.jobs AS j WHERE j.id = old.job_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pgsched.retry_run: run %''s job % was deleted', old.id,
                        quote_literal(old.job_name)
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF NOT job.enabled THEN
        RAISE EXCEPTION 'pgsched.retry_run: job % is disabled', quote_literal(job.name)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Enable it first (pgsched jobs enable), then replay.';
    END IF;
    IF job.last_error IS NOT NULL THEN
        RAISE EXCEPTION 'pgsched.retry_run: job % is invalid: %', quote_literal(job.name),
                        job.last_error
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Fix the job with UPDATE pgsched.jobs; changing its definition clears last_error.';
    END IF;

    PERFORM pg_advisory_xact_lock(
        hashtextextended('pgsched.retry_run ' || job.id || ' ' || old.scheduled_for
                         || ' ' || old.shard, 0));
    SELECT r.id INTO active_id
      FROM pgsched.runs AS r
     WHERE r.job_id = job.id AND r.scheduled_for = old.scheduled_for AND r.shard = old.shard
       AND r.status IN ('pending', 'running')
     ORDER BY r.attempt DESC
     LIMIT 1;
    IF FOUND THEN
        RAISE NOTICE 'pgsched.retry_run: run % of slot % is already %', active_id,
                     old.scheduled_for,
                     (SELECT r.status FROM pgsched.runs AS r WHERE r.id = active_id);
        RETURN active_id;
    END IF;

    INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, shard, attempt, status, trigger,
                              available_at, queue)
    SELECT job.id, job.name, old.scheduled_for, old.shard, max(r.attempt) + 1, 'pending',
           'manual', now(), job.queue
      FROM pgsched.runs AS r
     WHERE r.job_id = job.id AND r.scheduled_for = old.scheduled_for AND r.shard = old.shard
    RETURNING id, attempt INTO new_run_id, new_attempt;
    PERFORM pgsched.record_job_change(
        job.id, job.name, 'retry_run', jsonb_build_object('run_id', old.id),
        jsonb_build_object('run_id', new_run_id, 'scheduled_for', old.scheduled_for,
                           'attempt', new_attempt));
    PERFORM pg_notify('pgsched_wakeup', job.queue);
    RETURN new_run_id;
END;
$$;

COMMENT ON FUNCTION pgsched.retry_run(bigint) IS
    'Replays a finished run''s slot: a new attempt (trigger manual) of the same job and scheduled_for, recorded in pgsched.job_changes; returns its id, or the id of the slot''s attempt already pending or running. Refuses an unknown or unfinished run, a skipped record, a deleted, disabled or invalid job.';
