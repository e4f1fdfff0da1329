-- Every job's definition and state, for readers: pgsched.jobs without `checkpoint`
-- (what a job keeps between runs is its own business). The dashboard and the HTTP
-- API list jobs from here, so a login holding only pgsched_reader sees them too.
-- v2: warn_after_seconds, appended (CREATE OR REPLACE keeps the grants).
-- v3: shards, appended.
CREATE OR REPLACE VIEW pgsched.job_definitions AS
SELECT j.id, j.name, j.schedule, j.timezone, j.kind, j.target, j.args, j.enabled,
       j.timeout_seconds, j.max_attempts, j.retry_delay_seconds, j.overlap, j.misfire,
       j.misfire_threshold_seconds, j.queue, j.priority, j.category, j.description,
       j.next_run, j.last_error, j.created_at, j.updated_at, j.modified_by,
       j.warn_after_seconds, j.shards
  FROM pgsched.jobs AS j;

COMMENT ON VIEW pgsched.job_definitions IS
    'Every column of pgsched.jobs but checkpoint: the definitions and state a reader may see (pgsched_reader may not read the table itself).';
