-- Why a schedule expression is invalid, or NULL when it is valid.
-- The grammar is pgsched/scheduling/cron.py's and schedule.py's; see docs/reference/schedules.md.
CREATE OR REPLACE FUNCTION pgsched.schedule_error(schedule text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    expression text := btrim(schedule, E' \t');
    lowered text := lower(btrim(schedule, E' \t'));
    duration text;
    total_seconds numeric;
    fields text[];
    field_count integer;
    days record;
    months record;
    f record;
    month_names constant text[] := '{jan,feb,mar,apr,may,jun,jul,aug,sep,oct,nov,dec}';
    weekday_names constant text[] := '{sun,mon,tue,wed,thu,fri,sat}';
BEGIN
    IF schedule IS NULL THEN
        RETURN NULL;
    END IF;
    IF schedule !~ '^[0-9A-Za-z*/,@ \t-]*$' THEN
        RETURN 'schedule contains characters other than digits, letters, spaces and * / , - @';
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

    fields := regexp_split_to_array(expression, E'[ \t]+');
    field_count := cardinality(fields);
    IF field_count = 5 THEN
        fields := '0'::text || fields;
    ELSIF field_count <> 6 THEN
        RETURN format('expected 5 fields (minute hour day-of-month month day-of-week) '
                      'or 6 (second first), got %s', field_count);
    END IF;

    FOR f IN
        SELECT * FROM (VALUES
            (1, 'second', 0, 59, '{}'::text[], 0),
            (2, 'minute', 0, 59, '{}'::text[], 0),
            (3, 'hour', 0, 23, '{}'::text[], 0),
            (4, 'day-of-month', 1, 31, '{}'::text[], 0),
            (5, 'month', 1, 12, month_names, 1),
            (6, 'day-of-week', 0, 7, weekday_names, 0)
        ) AS spec(position, name, low, high, names, names_start)
        ORDER BY position
    LOOP
        SELECT * INTO days FROM pgsched.cron_field_values(
            fields[f.position], f.name, f.low, f.high, f.names, f.names_start);
        IF days.error IS NOT NULL THEN
            RETURN days.error;
        END IF;
    END LOOP;

    -- When either day field starts with '*' a day must match both (Vixie cron), so a
    -- day-of-month that no listed month has (31 February) can never fire.
    IF left(fields[4], 1) = '*' OR left(fields[6], 1) = '*' THEN
        SELECT * INTO days FROM pgsched.cron_field_values(fields[4], 'day-of-month', 1, 31);
        SELECT * INTO months FROM pgsched.cron_field_values(fields[5], 'month', 1, 12, month_names, 1);
        IF NOT EXISTS (
            SELECT 1
              FROM unnest(days.vals) AS d, unnest(months.vals) AS m
             WHERE d <= CASE WHEN m = 2 THEN 29
                             ELSE extract(day FROM make_date(2001, m, 1) + interval '1 month - 1 day')
                        END
        ) THEN
            RETURN format('schedule never fires: day-of-month %s does not occur in month %s',
                          (SELECT string_agg(d::text, ',' ORDER BY d) FROM unnest(days.vals) AS d),
                          (SELECT string_agg(m::text, ',' ORDER BY m) FROM unnest(months.vals) AS m));
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION pgsched.schedule_error(text) IS
    'Why a schedule expression is invalid, or NULL when valid: 5- or 6-field cron, @hourly/@daily/@weekly/@monthly/@yearly, @every 30s|5m|2h|1d.';
