-- What the SQL executor runs around a job's own SQL (pgsched/executors/sql.py).

-- name: sql_job_session_reset
-- Through a transaction pooler, whatever a job's statement leaves in its session goes
-- to the next client of that server connection, pgsched's own queries included (a
-- search_path that puts a job author's schema before pg_catalog, a role, a timeout).
-- DISCARD ALL cannot run inside a transaction, and after the commit the next statement
-- may reach another server connection; so this is DISCARD ALL step by step, run just
-- before the job's transaction commits, as one statement. Not DEALLOCATE ALL: it
-- would drop the statements a pooler prepared on this server connection (PgBouncer
-- >= 1.21); only statements prepared with SQL PREPARE go.
DO $$
DECLARE
    prepared text;
BEGIN
    EXECUTE 'CLOSE ALL';
    EXECUTE 'SET SESSION AUTHORIZATION DEFAULT';
    EXECUTE 'RESET ALL';
    EXECUTE 'UNLISTEN *';
    PERFORM pg_advisory_unlock_all();
    EXECUTE 'DISCARD PLANS';
    EXECUTE 'DISCARD TEMP';
    EXECUTE 'DISCARD SEQUENCES';
    FOR prepared IN SELECT name FROM pg_prepared_statements WHERE from_sql LOOP
        EXECUTE format('DEALLOCATE %I', prepared);
    END LOOP;
END
$$
