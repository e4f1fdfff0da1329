-- Why a time zone name is refused, or NULL when PostgreSQL knows it.
-- pg_timezone_names reads the zone files on every query (about 30 ms), so names are
-- looked up first in pgsched.time_zones, a copy filled by the migration; the catalog
-- is the fallback for zones added by a newer tz database.
CREATE OR REPLACE FUNCTION pgsched.timezone_error(timezone text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN timezone IS NULL THEN NULL
        WHEN EXISTS (SELECT 1 FROM pgsched.time_zones AS z WHERE z.name = timezone) THEN NULL
        WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names AS z WHERE z.name = timezone) THEN NULL
        ELSE format('unknown time zone %L (expected an IANA name from pg_timezone_names, such as Europe/Berlin)',
                    timezone)
    END
$$;

COMMENT ON FUNCTION pgsched.timezone_error(text) IS
    'Why a time zone name is refused, or NULL when it is listed in pg_timezone_names.';
