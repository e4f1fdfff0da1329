-- The first wall-clock time strictly after `after` that a parsed cron expression
-- matches. A port of CronExpression.next_match (pgsched/scheduling/cron.py), step for
-- step, so that pgsched.schedule_slots gives the slots the worker will fire.
--
-- The value arrays are what pgsched.cron_parse returns (any order); weekdays use 0
-- for Sunday. days_or is Vixie cron's rule: when both day fields are restricted, a
-- day matching either fires.
-- v2: the day rules that depend on the month (pgsched/scheduling/cron_days.py):
-- last_offsets (L-n), nearest (nW), last_weekday (LW), last_of (xL), nth (x#n as
-- x * 10 + n). has_rules false skips them, so plain schedules cost what they did.
CREATE OR REPLACE FUNCTION pgsched.cron_next_match(
    after timestamp,
    seconds integer[],
    minutes integer[],
    hours integer[],
    days_of_month integer[],
    months integer[],
    weekdays integer[],
    days_or boolean,
    has_rules boolean,
    last_offsets integer[],
    nearest integer[],
    last_weekday boolean,
    last_of integer[],
    nth integer[]
)
RETURNS timestamp
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t timestamp := date_trunc('second', after) + interval '1 second';
    -- A schedule the static never-fires check lets through still matches within a
    -- 28-year calendar cycle (29 February on a given weekday); this bounds the search.
    limit_year constant integer := extract(year FROM date_trunc('second', after) + interval '1 second') + 30;
    in_month boolean;
    in_week boolean;
    day_of_month integer;
    weekday integer;
    last_day integer;
    found integer;
BEGIN
    WHILE extract(year FROM t) <= limit_year LOOP
        IF NOT extract(month FROM t)::integer = ANY(months) THEN
            found := (SELECT min(m) FROM unnest(months) AS m WHERE m > extract(month FROM t));
            IF found IS NULL THEN
                t := make_timestamp(extract(year FROM t)::integer + 1,
                                    (SELECT min(m) FROM unnest(months) AS m), 1, 0, 0, 0);
            ELSE
                t := make_timestamp(extract(year FROM t)::integer, found, 1, 0, 0, 0);
            END IF;
            CONTINUE;
        END IF;

        day_of_month := extract(day FROM t)::integer;
        weekday := extract(dow FROM t)::integer;
        in_month := day_of_month = ANY(days_of_month);
        in_week := weekday = ANY(weekdays);
        IF has_rules THEN
            last_day := extract(day FROM date_trunc('month', t) + interval '1 month - 1 day')::integer;
            in_month := in_month
                OR (last_day - day_of_month) = ANY(last_offsets)
                OR (last_weekday AND day_of_month = pgsched.cron_nearest_weekday(t::date, last_day, last_day))
                OR EXISTS (SELECT 1 FROM unnest(nearest) AS n
                            WHERE n <= last_day AND abs(n - day_of_month) <= 2
                              AND day_of_month = pgsched.cron_nearest_weekday(t::date, n, last_day));
            in_week := in_week
                OR (weekday = ANY(last_of) AND day_of_month + 7 > last_day)
                OR (weekday * 10 + (day_of_month - 1) / 7 + 1) = ANY(nth);
        END IF;
        IF NOT (CASE WHEN days_or THEN in_month OR in_week ELSE in_month AND in_week END) THEN
            t := date_trunc('day', t) + interval '1 day';
            CONTINUE;
        END IF;

        found := (SELECT min(h) FROM unnest(hours) AS h WHERE h >= extract(hour FROM t));
        IF found IS NULL THEN
            t := date_trunc('day', t) + interval '1 day';
            CONTINUE;
        END IF;
        IF found <> extract(hour FROM t) THEN
            t := date_trunc('day', t) + make_interval(hours => found);
        END IF;

        found := (SELECT min(m) FROM unnest(minutes) AS m WHERE m >= extract(minute FROM t));
        IF found IS NULL THEN
            t := date_trunc('hour', t) + interval '1 hour';
            CONTINUE;
        END IF;
        IF found <> extract(minute FROM t) THEN
            t := date_trunc('hour', t) + make_interval(mins => found);
        END IF;

        found := (SELECT min(s) FROM unnest(seconds) AS s WHERE s >= extract(second FROM t));
        IF found IS NULL THEN
            t := date_trunc('minute', t) + interval '1 minute';
            CONTINUE;
        END IF;
        RETURN date_trunc('minute', t) + make_interval(secs => found);
    END LOOP;
    RAISE EXCEPTION 'pgsched.cron_next_match: schedule never fires'
        USING ERRCODE = 'data_exception';
END;
$$;

COMMENT ON FUNCTION pgsched.cron_next_match(timestamp, integer[], integer[], integer[], integer[], integer[], integer[], boolean, boolean, integer[], integer[], boolean, integer[], integer[]) IS
    'First wall-clock time strictly after `after` matching the cron value sets and day rules (L-n, nW, LW, xL, x#n); a port of pgsched/scheduling/cron.py next_match. Used by pgsched.schedule_slots.';
