-- Starts pending attempts (retries, manual runs, queued slots) for one worker, in one
-- round trip. Each statement of a plpgsql function reads a fresh snapshot, so the
-- checks in the last one see everything committed by whoever held the locks before
-- us. Jobs with overlap=allow start every locked attempt; the others one attempt per
-- job, and none while the job already runs. Capped queues start no more than their
-- headroom. A run follows its job's current queue.
-- v3: the start stamps claimed_at; started_at is left for the worker, which records
-- the moment the attempt really began with its outcome.
-- v4: shards. "The job already runs" means an attempt of another slot (or of the
-- same shard) runs: the shards of one slot start side by side, whatever the
-- overlap policy, and a job that is not overlap=allow starts the shards of its
-- earliest pending slot only. Returns each run's shard.
CREATE FUNCTION pgsched.start_pending_runs(worker text, queues text[], max_runs integer)
RETURNS TABLE (run_id bigint, fence bigint, job_id bigint, scheduled_for timestamptz,
               attempt integer, run_trigger text, shard integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    candidate_ids bigint[];
    locked_job_ids bigint[];
BEGIN
    -- Queue limits first, in queue order, as the due-job claim takes them.
    PERFORM 1 FROM pgsched.queue_limits AS l
      WHERE l.queue = ANY(queues) ORDER BY l.queue FOR UPDATE;

    -- A worker the cluster has declared dead starts nothing (as in claim_due_jobs:
    -- its row stays locked FOR SHARE until this claim commits).
    PERFORM 1 FROM pgsched.workers AS w
      WHERE w.id = worker AND w.stopped_at IS NULL FOR SHARE;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    -- Runs that could start: not those waiting behind a running attempt of their
    -- job (they would block the line for everyone behind them).
    SELECT array_agg(c.id), array_agg(DISTINCT c.job_id)
      INTO candidate_ids, locked_job_ids
      FROM (SELECT r.id, r.job_id
              FROM pgsched.runs AS r
             WHERE r.status = 'pending' AND r.available_at <= now()
               -- A scalar subquery, not EXISTS: it stays a per-row check, so the
               -- scan walks runs_available_at_idx oldest first and LIMIT stops it.
               AND (SELECT j.queue = ANY(queues)
                           AND (j.overlap = 'allow'
                                OR NOT EXISTS (SELECT 1 FROM pgsched.runs AS o
                                                WHERE o.job_id = r.job_id
                                                  AND o.status = 'running'
                                                  AND (o.scheduled_for <> r.scheduled_for
                                                       OR o.shard = r.shard)))
                      FROM pgsched.jobs AS j
                     WHERE j.id = r.job_id)
             ORDER BY r.available_at
             LIMIT max_runs
               FOR UPDATE SKIP LOCKED) AS c;
    IF candidate_ids IS NULL THEN
        RETURN;
    END IF;

    -- NO KEY UPDATE: inserting a run (a retry, run_now) takes KEY SHARE on its job.
    SELECT array_agg(j.id) INTO locked_job_ids
      FROM (SELECT id FROM pgsched.jobs WHERE id = ANY(locked_job_ids)
               FOR NO KEY UPDATE SKIP LOCKED) AS j;
    IF locked_job_ids IS NULL THEN
        RETURN;
    END IF;

    RETURN QUERY
    WITH candidates AS (
        SELECT r.id, r.job_id, r.scheduled_for, r.shard, r.available_at, j.overlap, j.queue
          FROM pgsched.runs AS r
          JOIN pgsched.jobs AS j ON j.id = r.job_id
         WHERE r.id = ANY(candidate_ids) AND r.job_id = ANY(locked_job_ids)
           AND r.status = 'pending' AND (j.enabled OR r.trigger = 'manual')
    ), first_slots AS (
        SELECT DISTINCT ON (c.job_id) c.job_id, c.scheduled_for
          FROM candidates AS c
         WHERE c.overlap <> 'allow'
         ORDER BY c.job_id, c.available_at, c.id
    ), startable AS (
        SELECT c.id, c.queue, c.available_at FROM candidates AS c WHERE c.overlap = 'allow'
        UNION ALL
        SELECT c.id, c.queue, c.available_at
          FROM candidates AS c
          JOIN first_slots AS f ON f.job_id = c.job_id AND f.scheduled_for = c.scheduled_for
         WHERE c.overlap <> 'allow'
           AND NOT EXISTS (SELECT 1 FROM pgsched.runs AS o
                            WHERE o.job_id = c.job_id AND o.status = 'running'
                              AND (o.scheduled_for <> c.scheduled_for OR o.shard = c.shard))
    ), within_limits AS (
        SELECT s.id, s.queue
          FROM (SELECT s.*, row_number() OVER (PARTITION BY s.queue
                                               ORDER BY s.available_at, s.id) AS place
                  FROM startable AS s) AS s
          LEFT JOIN pgsched.queue_limits AS l ON l.queue = s.queue
         WHERE l.queue IS NULL
            OR s.place <= l.max_running - (SELECT count(*) FROM pgsched.runs AS x
                                            WHERE x.status = 'running' AND x.queue = l.queue)
    )
    UPDATE pgsched.runs AS r
       SET status = 'running', worker_id = worker, claimed_at = now(), started_at = NULL,
           queue = w.queue,
           fence = nextval('pgsched.run_fence_seq')
      FROM within_limits AS w
     WHERE r.id = w.id
    RETURNING r.id, r.fence, r.job_id, r.scheduled_for, r.attempt, r.trigger, r.shard;
END;
$$;

COMMENT ON FUNCTION pgsched.start_pending_runs(text, text[], integer) IS
    'Claims up to max_runs pending attempts for a worker with SKIP LOCKED, honouring overlap (per slot: the shards of one slot start side by side) and queue limits; returns the started runs with their shard.';
