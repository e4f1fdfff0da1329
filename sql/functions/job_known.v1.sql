-- Whether job_stats, job_timeline and job_runs have something to say about `job_name`:
-- a job of that name, or runs a deleted job left under it. With its owner's rights,
-- so that pgsched_reader, who may not read the tables, can tell a typo from a quiet job.
CREATE OR REPLACE FUNCTION pgsched.job_known(job_name text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pgsched.jobs AS j WHERE j.name = job_known.job_name)
        OR EXISTS (SELECT 1 FROM pgsched.runs AS r
                    WHERE r.job_id IS NULL AND r.job_name = job_known.job_name);
$$;

COMMENT ON FUNCTION pgsched.job_known(text) IS
    'True when a job has this name, or a deleted job left runs under it.';
