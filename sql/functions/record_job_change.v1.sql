-- Appends one change to a job to pgsched.job_changes, with who made it.
--
-- session_user is the login the change came through: neither SET ROLE nor a
-- SECURITY DEFINER function changes it, so it cannot be forged short of being a
-- superuser. pgsched.actor is a label a client may set for itself (the web API sets
-- it to the API token's name, SET LOCAL pgsched.actor = 'token:<name>'): it says who
-- the client claims to act for, and is kept beside session_user, never instead of it.
--
-- Only functions running with the owner's rights call it (the jobs_audit trigger,
-- run_now): nobody else may write the table.
CREATE OR REPLACE FUNCTION pgsched.record_job_change(
    job_id bigint,
    job_name text,
    change text,
    old_values jsonb,
    new_values jsonb
)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO pgsched.job_changes (job_id, job_name, change, changed_by, actor, client_addr,
                                     old_values, new_values)
    VALUES (job_id, job_name, change, session_user,
            left(nullif(current_setting('pgsched.actor', true), ''), 200),
            inet_client_addr(), old_values, new_values);
$$;

COMMENT ON FUNCTION pgsched.record_job_change(bigint, text, text, jsonb, jsonb) IS
    'Appends a change to pgsched.job_changes with session_user, the self-declared pgsched.actor label and the client address. Called by jobs_audit and run_now only.';
