-- Wakes sleeping workers when jobs are added, changed or removed, so a new job is
-- scheduled at once instead of at the next poll. Statement-level and limited to
-- definition columns: workers' own next_run updates must not wake everyone.
CREATE OR REPLACE FUNCTION pgsched.jobs_notify()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pgsched_wakeup', '');
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION pgsched.jobs_notify() IS
    'NOTIFY pgsched_wakeup after jobs are inserted, deleted or their definition changes.';

CREATE TRIGGER jobs_notify
    AFTER INSERT OR DELETE OR UPDATE OF schedule, timezone, kind, target, args, enabled,
        timeout_seconds, max_attempts, retry_delay_seconds, overlap, misfire,
        misfire_threshold_seconds, queue
    ON pgsched.jobs
    FOR EACH STATEMENT EXECUTE FUNCTION pgsched.jobs_notify();
