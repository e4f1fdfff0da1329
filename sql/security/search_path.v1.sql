-- Every function of the schema runs with search_path = pg_catalog, pg_temp, whoever
-- calls it and whatever their own search_path says.
--
-- Triggers run on other people's writes (a superuser's, for some writers) and workers
-- call the claim functions with their login's rights. Without a pinned search_path, a
-- function or operator that someone created in a schema on the caller's path (public,
-- on older servers; the caller's own) could be chosen in place of pg_catalog's, and
-- would then run with the caller's rights. Functions written from now on carry the
-- setting in their own file; this pins those of earlier revisions, and
-- tests/integration/test_least_privilege.py checks that none lacks it.
DO $$
DECLARE
    function_name regprocedure;
BEGIN
    FOR function_name IN
        SELECT p.oid::regprocedure
          FROM pg_catalog.pg_proc AS p
         WHERE p.pronamespace = 'pgsched'::regnamespace
           AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) AS c(setting)
                            WHERE c.setting LIKE 'search\_path=%')
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp', function_name);
    END LOOP;
END
$$;
