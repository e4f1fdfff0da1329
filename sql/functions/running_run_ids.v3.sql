-- The attempts of a job that keep its latest slot unfinished, as running_run_ids(bigint)
-- (v2), for a caller that already holds the job's row: the claim, which has locked it
-- and read its shards from the newest version. The one-argument function read the job
-- again per claimed job (a key lookup, ~3 buffers, and a second query in the function);
-- it stays for workers of the previous version during an upgrade. A change to shards
-- must lock the row the caller holds, so the value passed in is current until COMMIT.
-- VOLATILE and plpgsql, as v2: a fresh snapshot taken after the caller's locks.
CREATE OR REPLACE FUNCTION pgsched.running_run_ids(for_job bigint, sharded boolean)
RETURNS bigint[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN coalesce((SELECT array_agg(r.id ORDER BY r.id)
                       FROM pgsched.runs AS r
                      WHERE r.job_id = for_job
                        AND (r.status = 'running'
                             OR (sharded AND r.status = 'pending' AND r.attempt = 1
                                 AND r.trigger IN ('schedule', 'catchup')))), '{}');
END;
$$;

COMMENT ON FUNCTION pgsched.running_run_ids(bigint, boolean) IS
    'Ids of the job''s running attempts and, when sharded, of its shards'' first attempts still waiting, read on a fresh snapshot (used by the claim, which passes whether the job it locked is sharded).';
