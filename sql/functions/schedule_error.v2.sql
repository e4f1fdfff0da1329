-- Why a schedule expression is invalid, or NULL when it is valid.
-- The grammar is pgsched/scheduling/cron.py's and schedule.py's; see docs/reference/schedules.md.
-- v2: cron fields are parsed by pgsched.cron_parse, which knows L, W, #, ?, ranges that
-- wrap and H. Validity never depends on the job's name, so this takes none.
CREATE OR REPLACE FUNCTION pgsched.schedule_error(schedule text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    expression text := btrim(schedule, E' \t');
    lowered text := lower(btrim(schedule, E' \t'));
    duration text;
    total_seconds numeric;
BEGIN
    IF schedule IS NULL THEN
        RETURN NULL;
    END IF;
    IF schedule !~ '^[0-9A-Za-z*/,@ \t?#()-]*$' THEN
        RETURN 'schedule contains characters other than digits, letters, spaces and * / , - @ ? # ( )';
    END IF;
    IF expression = '' THEN
        RETURN 'schedule is empty';
    END IF;

    IF lowered LIKE '@every%' THEN
        duration := lower(btrim(substr(expression, 7), E' \t'));
        IF duration = '' THEN
            RETURN '@every needs a duration, e.g. @every 30s, @every 5m, @every 1h30m';
        END IF;
        IF regexp_replace(duration, '[0-9]{1,9}[smhd]', '', 'g') <> '' THEN
            RETURN format('@every duration %L must be numbers with units s, m, h or d (e.g. 1h30m)',
                          duration);
        END IF;
        SELECT coalesce(sum(m[1]::numeric * CASE m[2] WHEN 's' THEN 1 WHEN 'm' THEN 60
                                                      WHEN 'h' THEN 3600 ELSE 86400 END), 0)
          INTO total_seconds
          FROM regexp_matches(duration, '([0-9]{1,9})([smhd])', 'g') AS m;
        IF total_seconds <= 0 THEN
            RETURN format('@every duration %L must be positive', duration);
        END IF;
        IF total_seconds > 3650 * 86400 THEN
            RETURN format('@every duration %L is longer than 3650d', duration);
        END IF;
        RETURN NULL;
    END IF;

    IF left(expression, 1) = '@' THEN
        IF lowered IN ('@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly') THEN
            RETURN NULL;
        END IF;
        RETURN format('unknown macro %L (expected one of @yearly, @annually, @monthly, @weekly, '
                      '@daily, @midnight, @hourly or @every <duration>)', expression);
    END IF;

    RETURN (pgsched.cron_parse(expression, NULL)).error;
END;
$$;

COMMENT ON FUNCTION pgsched.schedule_error(text) IS
    'Why a schedule expression is invalid, or NULL when valid: 5- or 6-field cron (with L, W, #, ?, H), @hourly/@daily/@weekly/@monthly/@yearly, @every 30s|5m|2h|1d.';
