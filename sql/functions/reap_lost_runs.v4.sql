-- Recovers the attempts of workers that stopped heartbeating. Any worker may call it
-- (and `pgsched reap` does): SKIP LOCKED makes each dead worker and each lost run
-- handled by exactly one caller. A worker passes its own id as caller: back from a
-- long outage, it must not declare itself dead before its heartbeat has caught up.
-- v2: the retry follows pgsched.next_attempt_at (a dead worker's attempt counts, as
-- its job may have killed it); the duration of an attempt whose start was never
-- recorded runs from its claim; planned as a few rows (ROWS 10).
-- v3: a lost shard is retried as that shard.
-- v4: a worker whose row is locked is not stopped (statement 1 skips it), but its
-- running attempts are still taken once its lease has lapsed. A worker frozen inside
-- one of its own transactions (SIGSTOP, a paused VM, a long GC stall) holds its row
-- (a claim locks it FOR SHARE) for as long as it stays frozen; v3 recovered nothing
-- of its until it resumed. The attempts it runs belong to claims that committed, so
-- no transaction of its holds them: each is fenced by runs.fence, and a worker that
-- resumes can neither overwrite nor continue one taken from it. Statement 1 stops
-- such a worker at the first round after its transaction ends, unless it has
-- renewed its lease first.
CREATE OR REPLACE FUNCTION pgsched.reap_lost_runs(caller text DEFAULT NULL)
RETURNS TABLE (run_id bigint, job_name text, worker_id text, retry_run_id bigint)
-- A round usually finds nothing to reap: planned as a handful of rows, the caller's
-- joins go through the runs and jobs keys, never a scan of either table.
LANGUAGE plpgsql ROWS 10
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- Statement 1 marks silent workers dead; statement 2 runs on a fresh snapshot
    -- and so sees those marks.
    UPDATE pgsched.workers AS w
       SET stopped_at = now()
     WHERE w.id IN (SELECT d.id FROM pgsched.workers AS d
                     WHERE d.stopped_at IS NULL
                       AND d.id IS DISTINCT FROM caller
                       AND d.last_heartbeat_at < now() - make_interval(secs => d.lease_seconds)
                       FOR UPDATE SKIP LOCKED);

    RETURN QUERY
    WITH lost AS (
        UPDATE pgsched.runs AS r
           SET status = 'lost',
               finished_at = now(),
               duration_ms = extract(epoch FROM now() - coalesce(r.started_at, r.claimed_at)) * 1000,
               error = format('worker %s stopped heartbeating while this attempt ran; '
                              'its outcome is unknown', r.worker_id)
         WHERE r.id IN (SELECT c.id
                          FROM pgsched.runs AS c
                          LEFT JOIN pgsched.workers AS w ON w.id = c.worker_id
                         WHERE c.status = 'running'
                           AND (w.id IS NULL OR w.stopped_at IS NOT NULL
                                -- Lapsed, its row held by a transaction of its own.
                                OR (w.id IS DISTINCT FROM caller
                                    AND w.last_heartbeat_at
                                        < now() - make_interval(secs => w.lease_seconds)))
                           FOR UPDATE OF c SKIP LOCKED)
        RETURNING r.id, r.job_id, r.job_name, r.worker_id, r.scheduled_for, r.shard, r.attempt,
                  r.queue
    ), retried AS (
        INSERT INTO pgsched.runs AS n (job_id, job_name, scheduled_for, shard, attempt, status,
                                       trigger, available_at, queue)
        SELECT l.job_id, l.job_name, l.scheduled_for, l.shard, l.attempt + 1, 'pending', 'retry',
               a.available_at, l.queue
          FROM lost AS l
          JOIN pgsched.jobs AS j ON j.id = l.job_id
         CROSS JOIN LATERAL (SELECT pgsched.next_attempt_at('lost', l.attempt, j.max_attempts,
                                                            j.retry_delay_seconds, true, false)
                                    AS available_at) AS a
         WHERE a.available_at IS NOT NULL
        ON CONFLICT (job_id, scheduled_for, shard, attempt) DO NOTHING
        RETURNING n.id, n.job_id, n.scheduled_for, n.shard
    )
    SELECT l.id, l.job_name, l.worker_id, t.id
      FROM lost AS l
      LEFT JOIN retried AS t
        ON t.job_id = l.job_id AND t.scheduled_for = l.scheduled_for AND t.shard = l.shard;
END;
$$;

COMMENT ON FUNCTION pgsched.reap_lost_runs(text) IS
    'Marks workers silent past their lease as stopped (those whose row a transaction of theirs holds at the next round), their running attempts as lost, and queues retries as pgsched.next_attempt_at decides. Safe to call from many workers at once.';
