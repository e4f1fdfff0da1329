-- Pending attempts that can never start: their job was deleted, or disabled before
-- a scheduled attempt or retry began (manual runs of a disabled job still run).
-- Recording them keeps "nothing stays pending forever" true.
CREATE OR REPLACE FUNCTION pgsched.retire_orphan_runs()
RETURNS integer
LANGUAGE sql AS $$
    WITH retired AS (
        UPDATE pgsched.runs AS r
           SET status = 'skipped',
               finished_at = now(),
               error = CASE WHEN j.id IS NULL THEN 'the job was deleted before this attempt started'
                            ELSE 'the job was disabled before this attempt started' END
          FROM pgsched.runs AS p
          LEFT JOIN pgsched.jobs AS j ON j.id = p.job_id
         WHERE r.id = p.id
           AND p.status = 'pending'
           AND (j.id IS NULL OR (NOT j.enabled AND p.trigger <> 'manual'))
        RETURNING r.id
    )
    SELECT count(*)::integer FROM retired
$$;

COMMENT ON FUNCTION pgsched.retire_orphan_runs() IS
    'Records pending attempts of deleted or disabled jobs as skipped; returns how many.';
