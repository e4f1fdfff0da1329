-- Attempts whose slot is in the last 7 days, every status. Without `output`
-- (up to 64,000 characters each): read it from pgsched.runs by id.
-- For the latest few: ORDER BY id DESC LIMIT 20 reads the primary key backwards.
-- v2: shard (which of its job's shards the attempt is; 0 without shards), appended.
CREATE OR REPLACE VIEW pgsched.recent_runs AS
SELECT r.id, r.job_id, r.job_name, r.scheduled_for, r.attempt, r.status, r.trigger, r.queue,
       r.worker_id, r.started_at, r.finished_at, r.duration_ms, r.error,
       r.missed_until, r.missed_slots, r.created_at, r.shard
  FROM pgsched.runs AS r
 WHERE r.scheduled_for >= now() - interval '7 days';

COMMENT ON VIEW pgsched.recent_runs IS
    'Runs whose slot (scheduled_for) is in the last 7 days, every status, without output; shard says which of its job''s shards each is.';
