-- Bounds a job's checkpoint when it is written (a job saving its progress, or an
-- INSERT), as jobs_before_write bounds args: the claim reads it with the job, and a
-- value too deep to decode would stop every claim that met it. Progress is larger
-- than arguments, so the size bound is larger.
CREATE OR REPLACE FUNCTION pgsched.jobs_checkpoint_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    checkpoint_max_bytes constant integer := 1048576;
    checkpoint_max_depth constant integer := 32;
    problem constant text := pgsched.json_value_error(
        NEW.checkpoint, checkpoint_max_depth, checkpoint_max_bytes);
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'pgsched.jobs.checkpoint: %', problem
            USING ERRCODE = 'check_violation', SCHEMA = 'pgsched', TABLE = 'jobs',
                  COLUMN = 'checkpoint';
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION pgsched.jobs_checkpoint_check() IS
    'Refuses a job checkpoint larger than 1 MiB of JSON or nested deeper than 32 levels.';

-- Only when the checkpoint is written: a worker's next_run updates never pay for it.
CREATE TRIGGER jobs_checkpoint_check
    BEFORE INSERT OR UPDATE OF checkpoint ON pgsched.jobs
    FOR EACH ROW WHEN (NEW.checkpoint IS NOT NULL)
    EXECUTE FUNCTION pgsched.jobs_checkpoint_check();
