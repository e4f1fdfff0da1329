-- Starts pending attempts (retries, manual runs, queued slots) for one worker, in one
-- round trip. Each statement of a plpgsql function reads a fresh snapshot, so the
-- overlap check in the last one sees everything committed by whoever held the job
-- locks before us. Jobs with overlap=allow start every locked attempt; the others
-- one attempt per job, and none while the job already runs.
CREATE OR REPLACE FUNCTION pgsched.start_pending_runs(worker text, queues text[], max_runs integer)
RETURNS TABLE (run_id bigint, fence bigint, job_id bigint, scheduled_for timestamptz,
               attempt integer, run_trigger text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    candidate_ids bigint[];
    locked_job_ids bigint[];
BEGIN
    SELECT array_agg(c.id), array_agg(DISTINCT c.job_id)
      INTO candidate_ids, locked_job_ids
      FROM (SELECT r.id, r.job_id
              FROM pgsched.runs AS r
             WHERE r.status = 'pending' AND r.available_at <= now()
               AND r.queue = ANY(queues) AND r.job_id IS NOT NULL
             ORDER BY r.available_at, r.id
             LIMIT max_runs
               FOR UPDATE SKIP LOCKED) AS c;
    IF candidate_ids IS NULL THEN
        RETURN;
    END IF;

    SELECT array_agg(j.id) INTO locked_job_ids
      FROM (SELECT id FROM pgsched.jobs WHERE id = ANY(locked_job_ids)
               FOR UPDATE SKIP LOCKED) AS j;
    IF locked_job_ids IS NULL THEN
        RETURN;
    END IF;

    RETURN QUERY
    WITH candidates AS (
        SELECT r.id, r.job_id, r.available_at, j.overlap
          FROM pgsched.runs AS r
          JOIN pgsched.jobs AS j ON j.id = r.job_id
         WHERE r.id = ANY(candidate_ids) AND r.job_id = ANY(locked_job_ids)
           AND r.status = 'pending' AND (j.enabled OR r.trigger = 'manual')
    ), startable AS (
        SELECT c.id FROM candidates AS c WHERE c.overlap = 'allow'
        UNION ALL
        (SELECT DISTINCT ON (c.job_id) c.id
           FROM candidates AS c
          WHERE c.overlap <> 'allow'
            AND NOT EXISTS (SELECT 1 FROM pgsched.runs AS o
                             WHERE o.job_id = c.job_id AND o.status = 'running')
          ORDER BY c.job_id, c.available_at, c.id)
    )
    UPDATE pgsched.runs AS r
       SET status = 'running', worker_id = worker, started_at = now(),
           fence = nextval('pgsched.run_fence_seq')
      FROM startable AS s
     WHERE r.id = s.id
    RETURNING r.id, r.fence, r.job_id, r.scheduled_for, r.attempt, r.trigger;
END;
$$;

COMMENT ON FUNCTION pgsched.start_pending_runs(text, text[], integer) IS
    'Claims up to max_runs pending attempts for a worker with SKIP LOCKED, honouring overlap; returns the started runs.';
