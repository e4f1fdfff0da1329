-- The roles of a least-privilege deployment (docs/security.md, "Recommended set-up"):
--
--   pgsched_reader  reads the views and the read-only functions (revision 0003);
--   pgsched_admin   registers and changes jobs, reads runs, workers and the audit trail;
--   pgsched_worker  what a worker's login needs to claim, run and record attempts, and
--                   nothing more: it may not change what a job is, nor alter any object.
--
-- The schema's owner (the login that runs `pgsched migrate`) is none of these, and
-- holds nothing any job runs as. Roles are cluster-wide while this file runs per
-- database: pgsched_worker is created only when missing and never dropped.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgsched_worker') THEN
        BEGIN
            CREATE ROLE pgsched_worker NOLOGIN;
        EXCEPTION
            -- Another database's migration created it meanwhile.
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'pgsched migrate must create the role pgsched_worker, and % may not',
                                current_user
                    USING HINT = 'Create it once as a role with CREATEROLE: CREATE ROLE '
                                 'pgsched_worker NOLOGIN; then run pgsched migrate again.';
        END;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA pgsched TO pgsched_worker;
-- A worker refuses to start on a schema older than its own.
GRANT SELECT ON pgsched.alembic_version TO pgsched_worker;
-- Claims lock jobs FOR NO KEY UPDATE (which asks for UPDATE on some column) and move
-- next_run and last_error; jobs save their checkpoint. The definition stays out of reach.
GRANT SELECT, UPDATE (next_run, last_error, checkpoint) ON pgsched.jobs TO pgsched_worker;
-- Claims, outcomes, retries, heartbeats and recovery. Nothing is deleted: cleanup_runs
-- and cleanup_workers run with their owner's rights.
GRANT SELECT, INSERT, UPDATE ON pgsched.runs, pgsched.workers TO pgsched_worker;
-- Claims in a capped queue lock its limit FOR UPDATE.
GRANT SELECT, UPDATE (max_running) ON pgsched.queue_limits TO pgsched_worker;
GRANT USAGE ON SEQUENCE pgsched.run_fence_seq TO pgsched_worker;

-- pgsched_admin writes what a person decides about a job, every column of which the
-- audit trail records (pgsched.jobs_audit), and not the workers' own: next_run,
-- last_error and checkpoint. modified_by stays writable, as the label it is.
REVOKE INSERT, UPDATE ON pgsched.jobs FROM pgsched_admin;
GRANT INSERT (name, schedule, timezone, kind, target, args, enabled, timeout_seconds,
              max_attempts, retry_delay_seconds, overlap, misfire, misfire_threshold_seconds,
              queue, priority, category, description, modified_by)
    ON pgsched.jobs TO pgsched_admin;
GRANT UPDATE (name, schedule, timezone, kind, target, args, enabled, timeout_seconds,
              max_attempts, retry_delay_seconds, overlap, misfire, misfire_threshold_seconds,
              queue, priority, category, description, modified_by, updated_at)
    ON pgsched.jobs TO pgsched_admin;
GRANT SELECT ON pgsched.job_changes TO pgsched_admin;

-- Only the functions that run with the owner's rights (jobs_audit, run_now) append to
-- the audit trail.
REVOKE EXECUTE ON FUNCTION pgsched.record_job_change(bigint, text, text, jsonb, jsonb) FROM PUBLIC;
