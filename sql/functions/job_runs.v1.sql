-- The runs of a job whose slot (scheduled_for) is at or after `since`: by the id of
-- the job now named `job_name`, so its history survives a rename; for a name no
-- job has any more, the runs a deleted job left under that name. Both paths read
-- the (job_id, scheduled_for, attempt) key. A plain SQL function, so the planner
-- inlines it into job_stats and job_timeline.
CREATE OR REPLACE FUNCTION pgsched.job_runs(job_name text, since timestamptz)
RETURNS SETOF pgsched.runs
LANGUAGE sql STABLE AS $$
    WITH job AS MATERIALIZED (
        SELECT (SELECT j.id FROM pgsched.jobs AS j WHERE j.name = job_runs.job_name) AS id
    )
    SELECT r.*
      FROM job, pgsched.runs AS r
     WHERE r.job_id = job.id AND r.scheduled_for >= job_runs.since
    UNION ALL
    SELECT r.*
      FROM job, pgsched.runs AS r
     WHERE job.id IS NULL AND r.job_id IS NULL AND r.job_name = job_runs.job_name
       AND r.scheduled_for >= job_runs.since
$$;

COMMENT ON FUNCTION pgsched.job_runs(text, timestamptz) IS
    'Runs of the job now named job_name (or, for a deleted job, left under that name) whose slot is at or after since. Used by job_stats and job_timeline.';
