-- Keeps pgsched.job_changes append-only: no UPDATE, DELETE or TRUNCATE, whoever asks.
-- Nobody but the owner holds those privileges anyway; this makes the rule hold for
-- the owner's own sessions too, short of dropping the trigger on purpose.
CREATE OR REPLACE FUNCTION pgsched.job_changes_append_only()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'pgsched.job_changes is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'The audit trail of job changes is kept as written.';
END;
$$;

COMMENT ON FUNCTION pgsched.job_changes_append_only() IS
    'Refuses UPDATE, DELETE and TRUNCATE on pgsched.job_changes.';

CREATE TRIGGER job_changes_append_only
    BEFORE UPDATE OR DELETE ON pgsched.job_changes
    FOR EACH ROW EXECUTE FUNCTION pgsched.job_changes_append_only();

CREATE TRIGGER job_changes_no_truncate
    BEFORE TRUNCATE ON pgsched.job_changes
    FOR EACH STATEMENT EXECUTE FUNCTION pgsched.job_changes_append_only();
