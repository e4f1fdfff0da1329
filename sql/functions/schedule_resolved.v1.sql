-- A job's schedule as it fires: each H replaced by the value it picks from the job's
-- name (H/15 may become 7-59/15); any other schedule as written, trimmed. NULL for an
-- invalid schedule. Schedule.resolved in pgsched/scheduling/schedule.py.
CREATE OR REPLACE FUNCTION pgsched.schedule_resolved(schedule text, job_name text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pgsched.schedule_error(schedule) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    IF left(btrim(schedule, E' \t'), 1) = '@' THEN
        RETURN btrim(schedule, E' \t');
    END IF;
    RETURN (pgsched.cron_parse(schedule, job_name)).resolved;
END;
$$;

COMMENT ON FUNCTION pgsched.schedule_resolved(text, text) IS
    'A job''s schedule with each H replaced by what it picks from the job''s name (H/15 * * * * may read 7-59/15 * * * *); other schedules as written.';
