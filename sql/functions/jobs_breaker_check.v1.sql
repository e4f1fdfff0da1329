-- Refuses circuit breaker settings that make no sense, naming the column, in the
-- message format of pgsched.jobs_before_write. A trigger of its own (not a new
-- version of jobs_before_write) so that it fires only when these columns change.
CREATE OR REPLACE FUNCTION pgsched.jobs_breaker_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.breaker_failures IS NOT NULL AND NEW.breaker_failures <= 0 THEN
        RAISE EXCEPTION 'pgsched.jobs.breaker_failures: % must be positive, or NULL for no circuit breaker',
                        NEW.breaker_failures
            USING ERRCODE = 'check_violation', SCHEMA = 'pgsched', TABLE = 'jobs',
                  COLUMN = 'breaker_failures';
    END IF;
    IF NEW.breaker_cooldown_seconds IS NULL OR NEW.breaker_cooldown_seconds <= 0 THEN
        RAISE EXCEPTION 'pgsched.jobs.breaker_cooldown_seconds: % must be positive',
                        coalesce(NEW.breaker_cooldown_seconds::text, 'NULL')
            USING ERRCODE = 'check_violation', SCHEMA = 'pgsched', TABLE = 'jobs',
                  COLUMN = 'breaker_cooldown_seconds',
                  HINT = 'The seconds a job stays paused once its circuit breaker opens.';
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION pgsched.jobs_breaker_check() IS
    'Refuses a job whose breaker_failures is not positive (or NULL) or whose breaker_cooldown_seconds is not positive.';

CREATE TRIGGER jobs_breaker_check
    BEFORE INSERT OR UPDATE OF breaker_failures, breaker_cooldown_seconds ON pgsched.jobs
    FOR EACH ROW EXECUTE FUNCTION pgsched.jobs_breaker_check();
