-- Enables or disables a job, recording who did it (modified_by) and when
-- (updated_at, set by pgsched.jobs_before_write). Re-enabling lets a worker compute
-- next_run afresh from now, so slots passed while disabled are not owed.
CREATE OR REPLACE FUNCTION pgsched.toggle_job(
    job_name text,
    enabled boolean,
    modified_by text DEFAULT current_user
)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF toggle_job.enabled IS NULL THEN
        RAISE EXCEPTION 'pgsched.toggle_job: enabled must be true or false, not NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE pgsched.jobs AS j
       SET enabled = toggle_job.enabled,
           modified_by = coalesce(toggle_job.modified_by, session_user),
           updated_at = now()
     WHERE j.name = toggle_job.job_name;
    RETURN FOUND;
END;
$$;

COMMENT ON FUNCTION pgsched.toggle_job(text, boolean, text) IS
    'Enables or disables the named job and records modified_by and updated_at; false when no job has that name.';
