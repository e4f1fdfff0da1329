-- Records every change to a job in pgsched.job_changes: inserts and deletes with the
-- job's definition, updates with the old and new values of the columns that changed,
-- and re-enabling or disabling alone as a 'toggle'.
--
-- Audited are the columns a person decides; next_run, last_error and checkpoint are
-- the workers' (pgsched_admin may not write them) and the bookkeeping columns follow
-- from the rest. The update trigger fires for updates of audited columns only, so a
-- worker's claim never calls it; an update that writes the values already there
-- records nothing.
--
-- The functions run with their owner's rights, so that whoever may change a job
-- records the change without being able to write the table themselves.
--
-- v2: warn_after_seconds is audited too (a person decides it).
-- v3: so are the circuit breaker's settings, breaker_failures and
-- breaker_cooldown_seconds.
-- v4: and shards, how many first attempts each slot fans out to.
-- v5: inserts and deletes are recorded once per statement, from its transition table
-- (one INSERT into job_changes for all the rows), not once per row: a bulk INSERT of a
-- million jobs spent most of its time here, calling record_job_change (a statement
-- planned afresh per call) and rebuilding each row's definition key by key. Each
-- changed row still gets its own record, with the same values, session_user, actor
-- and client address. Updates stay per row (they compare each row's old and new
-- values, and are few).

-- The audited columns, in one place for both functions.
CREATE OR REPLACE FUNCTION pgsched.job_audited_columns()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
    SELECT ARRAY[
        'name', 'schedule', 'timezone', 'kind', 'target', 'args', 'enabled',
        'timeout_seconds', 'max_attempts', 'retry_delay_seconds', 'overlap', 'misfire',
        'misfire_threshold_seconds', 'queue', 'priority', 'category', 'description',
        'warn_after_seconds', 'breaker_failures', 'breaker_cooldown_seconds', 'shards']
$$;

COMMENT ON FUNCTION pgsched.job_audited_columns() IS
    'The columns of pgsched.jobs whose changes pgsched.job_changes records: those a person decides.';

CREATE OR REPLACE FUNCTION pgsched.jobs_audit()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    audited constant text[] := pgsched.job_audited_columns();
    before jsonb;
    after jsonb;
BEGIN
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
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION pgsched.jobs_audit() IS
    'Appends each update and toggle of a job to pgsched.job_changes (old and new values of the changed columns, session_user, pgsched.actor).';

-- Statement level: the trigger names its transition table "changed" (the inserted
-- rows, or the deleted ones). The columns written are record_job_change's.
CREATE OR REPLACE FUNCTION pgsched.jobs_audit_rows()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- Every column of the row but the audited ones, removed from its JSON in one step:
    -- cheaper per row than building the definition key by key.
    unaudited constant text[] := ARRAY(
        SELECT a.attname::text
          FROM pg_attribute AS a
         WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attname::text <> ALL(pgsched.job_audited_columns()));
    inserting constant boolean := TG_OP = 'INSERT';
BEGIN
    INSERT INTO pgsched.job_changes (job_id, job_name, change, changed_by, actor, client_addr,
                                     old_values, new_values)
    SELECT c.id, c.name, lower(TG_OP), session_user,
           left(nullif(current_setting('pgsched.actor', true), ''), 200), inet_client_addr(),
           CASE WHEN NOT inserting THEN to_jsonb(c) - unaudited END,
           CASE WHEN inserting THEN to_jsonb(c) - unaudited END
      FROM changed AS c
     ORDER BY c.id;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION pgsched.jobs_audit_rows() IS
    'Appends each job inserted or deleted by a statement to pgsched.job_changes (its definition, session_user, pgsched.actor), from the statement''s transition table.';

DROP TRIGGER IF EXISTS jobs_audit ON pgsched.jobs;
CREATE TRIGGER jobs_audit
    AFTER UPDATE OF name, schedule, timezone, kind, target, args, enabled,
        timeout_seconds, max_attempts, retry_delay_seconds, overlap, misfire,
        misfire_threshold_seconds, queue, priority, category, description, warn_after_seconds,
        breaker_failures, breaker_cooldown_seconds, shards
    ON pgsched.jobs
    FOR EACH ROW EXECUTE FUNCTION pgsched.jobs_audit();

-- PostgreSQL allows a transition table on single-event triggers only: one each.
CREATE TRIGGER jobs_audit_insert
    AFTER INSERT ON pgsched.jobs
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION pgsched.jobs_audit_rows();

CREATE TRIGGER jobs_audit_delete
    AFTER DELETE ON pgsched.jobs
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION pgsched.jobs_audit_rows();
