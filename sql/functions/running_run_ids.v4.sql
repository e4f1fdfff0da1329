-- The attempts that keep each claimed job's latest slot unfinished, for a whole claim
-- in one call: running_run_ids(bigint, boolean) (v3) answered one job per call, and
-- the claim called it once per job it locked (~8 us each, mostly the plpgsql call and
-- its fresh snapshot, against ~2 us for the lookup itself). The claim passes every job
-- it locked, in one aggregate after the last lock, and whether each is sharded (read
-- from the locked row's newest version, current until COMMIT as in v3). Each job is
-- looked up by key in runs_job_id_active_idx (a subquery per job: never a hash of the
-- whole partial index, which holds an entry for every run once running until vacuum).
-- The two-argument function stays for workers of the previous version during an
-- upgrade. Jobs with no such attempt have no row.
-- VOLATILE and plpgsql, as v2 and v3: its query reads a fresh snapshot, taken after
-- the caller's locks, so the overlap check is never stale.
CREATE OR REPLACE FUNCTION pgsched.running_run_ids(for_jobs bigint[], sharded boolean[])
RETURNS TABLE (job_id bigint, run_ids bigint[])
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY
    SELECT c.id, c.ids
      FROM (SELECT j.id,
                   (SELECT array_agg(r.id ORDER BY r.id)
                      FROM pgsched.runs AS r
                     WHERE r.job_id = j.id
                       AND (r.status = 'running'
                            OR (j.fans_out AND r.status = 'pending' AND r.attempt = 1
                                AND r.trigger IN ('schedule', 'catchup')))) AS ids
              FROM unnest(for_jobs, sharded) AS j(id, fans_out)) AS c
     WHERE c.ids IS NOT NULL;
END;
$$;

COMMENT ON FUNCTION pgsched.running_run_ids(bigint[], boolean[]) IS
    'For each job given (with whether it is sharded), the ids of its running attempts and, when sharded, of its shards'' first attempts still waiting, read on one fresh snapshot; jobs with none are left out (used by the claim, once per claim).';
