-- The attempts of a job that keep its latest slot unfinished: those running, and the
-- first attempts of shards still waiting for a worker (a slot fanned out to shards
-- has begun once any of them runs). The planner applies the overlap policy to them:
-- overlap=skip skips a new slot while any shard of an earlier one is unfinished,
-- overlap=replace cancels them all. VOLATILE (and plpgsql, so never inlined): it
-- reads a fresh snapshot when called, so a claim that has just locked the job sees
-- every attempt another worker started under that lock before releasing it.
-- v2: waiting shard first attempts count; an unsharded job's are as in v1.
CREATE OR REPLACE FUNCTION pgsched.running_run_ids(for_job bigint)
RETURNS bigint[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sharded constant boolean := (SELECT j.shards > 1 FROM pgsched.jobs AS j WHERE j.id = for_job);
BEGIN
    RETURN coalesce((SELECT array_agg(r.id ORDER BY r.id)
                       FROM pgsched.runs AS r
                      WHERE r.job_id = for_job
                        AND (r.status = 'running'
                             OR (sharded AND r.status = 'pending' AND r.attempt = 1
                                 AND r.trigger IN ('schedule', 'catchup')))), '{}');
END;
$$;

COMMENT ON FUNCTION pgsched.running_run_ids(bigint) IS
    'Ids of the job''s running attempts and of its shards'' first attempts still waiting, read on a fresh snapshot (used by the claim).';
