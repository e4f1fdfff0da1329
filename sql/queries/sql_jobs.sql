-- The sql executor's queries, run on the sessions jobs' SQL runs on (the worker's
-- --sql-database-url, else its own). Parameters use psycopg's %(name)s style.

-- name: sql_job_session
-- Before each attempt: sets its statement_timeout (for the session, or through a
-- transaction pooler with local true, for the transaction pgsched runs the job in),
-- and lists what this session could reach beyond what any job may. SET ROLE is no boundary (the SQL may RESET ROLE, or
-- SET ROLE to any role its login is a member of), so all is judged from the login,
-- session_user, over every membership path, SET or INHERIT alike (pg_has_role's
-- MEMBER; a superuser is a member of every role).
--   reach: roles in reach that make the session a superuser, let it create roles
--          (before PostgreSQL 16, a CREATEROLE role may grant itself nearly anything),
--          or run programs and read or write files on the database server.
--   owns:  pgsched objects owned by a role in reach. Whoever owns a function can
--          replace it, and pgsched's triggers run on other people's writes.
--   owns_database, creates_in_database: whether a role in reach owns this database or
--          may create schemas in it. Its owner sets what every session of it starts
--          with (ALTER DATABASE ... SET search_path), a superuser's included; a schema
--          named after another role comes first on that role's search path ("$user").
-- Checked before every attempt, not once: a role granted later counts from then on.
-- Earlier jobs ran on this session's login and may have set its search_path (ALTER
-- ROLE ... SET): every function and operator here is named with its schema, so none
-- of theirs can answer in place of pg_catalog's.
SELECT pg_catalog.set_config('statement_timeout', %(timeout_ms)s, %(local)s)
           AS statement_timeout,
       session_user AS login,
       ARRAY(SELECT r.rolname OPERATOR(pg_catalog.||)
                    CASE WHEN r.rolsuper THEN ' (a superuser)'
                         WHEN r.rolcreaterole THEN ' (CREATEROLE)'
                         ELSE '' END
               FROM pg_catalog.pg_roles AS r
              WHERE (r.rolsuper OR r.rolcreaterole
                     OR r.rolname OPERATOR(pg_catalog.=) ANY (ARRAY[
                            'pg_execute_server_program', 'pg_read_server_files',
                            'pg_write_server_files']::pg_catalog.name[]))
                AND pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')
              ORDER BY r.rolsuper DESC, r.rolname) AS reach,
       ARRAY(SELECT o.name
               FROM (SELECT 'schema pgsched' AS name, n.nspowner AS owner
                       FROM pg_catalog.pg_namespace AS n
                      WHERE n.nspname OPERATOR(pg_catalog.=) 'pgsched'
                     UNION ALL
                     SELECT 'pgsched.' OPERATOR(pg_catalog.||) c.relname, c.relowner
                       FROM pg_catalog.pg_class AS c
                       JOIN pg_catalog.pg_namespace AS n
                         ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                      WHERE n.nspname OPERATOR(pg_catalog.=) 'pgsched'
                        AND c.relkind OPERATOR(pg_catalog.<>) 'i'
                     UNION ALL
                     SELECT 'pgsched.' OPERATOR(pg_catalog.||) p.proname
                                       OPERATOR(pg_catalog.||) '()', p.proowner
                       FROM pg_catalog.pg_proc AS p
                       JOIN pg_catalog.pg_namespace AS n
                         ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
                      WHERE n.nspname OPERATOR(pg_catalog.=) 'pgsched') AS o
              WHERE pg_catalog.pg_has_role(session_user, o.owner, 'MEMBER')
              ORDER BY o.name
              LIMIT 3) AS owns,
       pg_catalog.current_database() AS database,
       EXISTS (SELECT
                 FROM pg_catalog.pg_database AS d
                WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
                  AND pg_catalog.pg_has_role(session_user, d.datdba, 'MEMBER')) AS owns_database,
       EXISTS (SELECT
                 FROM pg_catalog.pg_roles AS r
                WHERE pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')
                  AND pg_catalog.has_database_privilege(r.oid, pg_catalog.current_database(),
                                                        'CREATE')) AS creates_in_database;

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
    PERFORM pg_catalog.pg_advisory_unlock_all();
    EXECUTE 'DISCARD PLANS';
    EXECUTE 'DISCARD TEMP';
    EXECUTE 'DISCARD SEQUENCES';
    FOR prepared IN SELECT p.name FROM pg_catalog.pg_prepared_statements AS p
                     WHERE p.from_sql LOOP
        EXECUTE pg_catalog.format('DEALLOCATE %I', prepared);
    END LOOP;
END
$$
