-- The latest 100 failures (failed, timed_out, lost) by finish time, with their
-- error. One ordered branch per status, each read backwards from the partial index
-- runs_status_finished_at_idx, so no more than 300 index entries are read.
--
-- v2: shard, the shard whose attempt failed (0 for an
-- unsharded job), appended last.
CREATE OR REPLACE VIEW pgsched.failed_runs AS
SELECT f.*
  FROM ((SELECT r.id, r.job_id, r.job_name, r.scheduled_for, r.attempt, r.status, r.trigger,
                r.queue, r.worker_id, r.started_at, r.finished_at, r.duration_ms, r.error, r.shard
           FROM pgsched.runs AS r
          WHERE r.status = 'failed' AND r.finished_at IS NOT NULL
          ORDER BY r.finished_at DESC
          LIMIT 100)
        UNION ALL
        (SELECT r.id, r.job_id, r.job_name, r.scheduled_for, r.attempt, r.status, r.trigger,
                r.queue, r.worker_id, r.started_at, r.finished_at, r.duration_ms, r.error, r.shard
           FROM pgsched.runs AS r
          WHERE r.status = 'timed_out' AND r.finished_at IS NOT NULL
          ORDER BY r.finished_at DESC
          LIMIT 100)
        UNION ALL
        (SELECT r.id, r.job_id, r.job_name, r.scheduled_for, r.attempt, r.status, r.trigger,
                r.queue, r.worker_id, r.started_at, r.finished_at, r.duration_ms, r.error, r.shard
           FROM pgsched.runs AS r
          WHERE r.status = 'lost' AND r.finished_at IS NOT NULL
          ORDER BY r.finished_at DESC
          LIMIT 100)) AS f
 ORDER BY f.finished_at DESC, f.id DESC
 LIMIT 100;

COMMENT ON VIEW pgsched.failed_runs IS
    'The latest 100 failed, timed_out or lost runs, newest finish first, with their error and shard (0 unless the job fans its slots out to shards).';
