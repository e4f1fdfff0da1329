-- The attempts of a job running right now. VOLATILE (and plpgsql, so never inlined):
-- it reads a fresh snapshot when called, so a claim that has just locked the job
-- sees every attempt another worker started under that lock before releasing it.
CREATE OR REPLACE FUNCTION pgsched.running_run_ids(for_job bigint)
RETURNS bigint[]
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN coalesce((SELECT array_agg(r.id ORDER BY r.id)
                       FROM pgsched.runs AS r
                      WHERE r.job_id = for_job AND r.status = 'running'), '{}');
END;
$$;

COMMENT ON FUNCTION pgsched.running_run_ids(bigint) IS
    'Ids of the job''s running attempts, read on a fresh snapshot (used by the claim).';
