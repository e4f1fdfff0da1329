-- The first wall-clock time strictly after `after` that a parsed cron expression
-- matches. A port of CronExpression.next_match (pgsched/cron.py), step for step, so
-- that pgsched.schedule_slots gives the slots the worker will fire;
-- tests/integration/test_monitoring.py checks the two against each other.
--
-- The value arrays are what pgsched.cron_field_values returns (any order);
-- weekdays use 0 for Sunday (7 folded into 0). days_or is Vixie cron's rule: when
-- both day fields are restricted, a day matching either fires.
CREATE OR REPLACE FUNCTION pgsched.cron_next_match(
    after timestamp,
    seconds integer[],
    minutes integer[],
    hours integer[],
    days_of_month integer[],
    months integer[],
    weekdays integer[],
    days_or boolean
)
RETURNS timestamp
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    t timestamp := date_trunc('second', after) + interval '1 second';
    -- A schedule the static never-fires check lets through still matches within a
    -- 28-year calendar cycle (29 February on a given weekday); this bounds the search.
    limit_year constant integer := extract(year FROM date_trunc('second', after) + interval '1 second') + 30;
    day_matches boolean;
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

        day_matches := CASE
            WHEN days_or THEN extract(day FROM t)::integer = ANY(days_of_month)
                              OR extract(dow FROM t)::integer = ANY(weekdays)
            ELSE extract(day FROM t)::integer = ANY(days_of_month)
                 AND extract(dow FROM t)::integer = ANY(weekdays)
        END;
        IF NOT day_matches THEN
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

COMMENT ON FUNCTION pgsched.cron_next_match(timestamp, integer[], integer[], integer[], integer[], integer[], integer[], boolean) IS
    'First wall-clock time strictly after `after` matching the cron value sets (a port of pgsched/cron.py next_match). Used by pgsched.schedule_slots.';
