-- Records every change to a job in pgsched.job_changes: inserts and deletes with the
-- job's definition, updates with the old and new values of the columns that changed,
-- and re-enabling or disabling alone as a 'toggle'.
--
-- Audited are the columns a person decides; next_run, last_error and checkpoint are
-- the workers' (pgsched_admin may not write them) and the bookkeeping columns follow
-- from the rest. The trigger fires for updates of audited columns only, so a worker's
-- claim never calls it; an update that writes the values already there records
-- nothing.
--
-- It runs with its owner's rights, so that whoever may change a job records the
-- change without being able to write the table themselves.
--
-- v2: warn_after_seconds is audited too (a person decides it).
CREATE OR REPLACE FUNCTION pgsched.jobs_audit()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    audited constant text[] := ARRAY[
        'name', 'schedule', 'timezone', 'kind', 'target', 'args', 'enabled',
        'timeout_seconds', 'max_attempts', 'retry_delay_seconds', 'overlap', 'misfire',
        'misfire_threshold_seconds', 'queue', 'priority', 'category', 'description',
        'warn_after_seconds'];
    before jsonb;
    after jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT jsonb_object_agg(n.key, n.value) INTO after
          FROM jsonb_each(to_jsonb(NEW)) AS n WHERE n.key = ANY(audited);
        PERFORM pgsched.record_job_change(NEW.id, NEW.name, 'insert', NULL, after);
    ELSIF TG_OP = 'DELETE' THEN
        SELECT jsonb_object_agg(o.key, o.value) INTO before
          FROM jsonb_each(to_jsonb(OLD)) AS o WHERE o.key = ANY(audited);
        PERFORM pgsched.record_job_change(OLD.id, OLD.name, 'delete', before, NULL);
    ELSE
        SELECT jsonb_object_agg(o.key, o.value), jsonb_object_agg(o.key, n.value)
          INTO before, after
          FROM jsonb_each(to_jsonb(OLD)) AS o
          JOIN jsonb_each(to_jsonb(NEW)) AS n ON n.key = o.key
         WHERE o.key = ANY(audited) AND o.value IS DISTINCT FROM n.value;
        IF before IS NOT NULL THEN
            PERFORM pgsched.record_job_change(
                NEW.id, NEW.name,
                CASE WHEN before = jsonb_build_object('enabled', OLD.enabled)
                     THEN 'toggle' ELSE 'update' END,
                before, after);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION pgsched.jobs_audit() IS
    'Appends each insert, delete, update and toggle of a job to pgsched.job_changes (old and new values of the changed columns, session_user, pgsched.actor).';

DROP TRIGGER IF EXISTS jobs_audit ON pgsched.jobs;
CREATE TRIGGER jobs_audit
    AFTER INSERT OR DELETE OR UPDATE OF name, schedule, timezone, kind, target, args, enabled,
        timeout_seconds, max_attempts, retry_delay_seconds, overlap, misfire,
        misfire_threshold_seconds, queue, priority, category, description, warn_after_seconds
    ON pgsched.jobs
    FOR EACH ROW EXECUTE FUNCTION pgsched.jobs_audit();
