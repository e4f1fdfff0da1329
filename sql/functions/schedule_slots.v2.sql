-- The next `n` slots of a schedule read in a time zone, strictly after `after`:
-- a port of Schedule.upcoming (pgsched/schedule.py), with the same DST rules:
--
-- * Spring gap: a slot whose wall-clock time does not exist fires once, at the end
--   of the gap (dst_note 'shifted_by_dst_gap'); several slots in one gap fire once.
-- * Autumn repeat: a schedule with fixed hours fires each wall-clock slot once, in
--   the first pass; one whose hour field starts with '*' follows elapsed time and
--   fires in both passes (the second pass has dst_note 'repeated_hour').
-- * @every is elapsed time anchored to the Unix epoch.
--
-- slot_at is the instant the slot fires; wall_time the wall-clock slot it stands
-- for in the zone (for a shifted slot, the time that did not exist).
-- tests/integration/test_monitoring_preview.py and test_schedule_sql_parity.py compare
-- it with the Python original over many schedules and zones across DST transitions.
--
-- v2: job_name, what H picks its values from (pgsched.cron_parse); a schedule with H
-- and no name is refused. The cron fields know L, W, #, ? and ranges that wrap.
CREATE OR REPLACE FUNCTION pgsched.schedule_slots(
    schedule text,
    timezone text,
    after timestamptz,
    n integer,
    job_name text DEFAULT NULL
)
RETURNS TABLE (slot_at timestamptz, wall_time timestamp, dst_note text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    expression text := lower(btrim(schedule, E' \t'));
    problem text := pgsched.schedule_error(schedule);
    every_us bigint;
    cron record;
    cursor_at timestamptz := after;
    wall timestamp;
    candidate timestamp;
    here record;
    transition timestamptz;
    repeat_start timestamp;
    repeat_end timestamp;
    second_pass boolean;
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'pgsched.schedule_slots: %: %', quote_literal(schedule), problem
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF n IS NULL OR n < 0 OR n > 10000 THEN
        RAISE EXCEPTION 'pgsched.schedule_slots: n must be between 0 and 10000, not %', n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF after IS NULL OR timezone IS NULL THEN
        RETURN;
    END IF;
    -- Refuses an unknown zone with PostgreSQL's own message.
    PERFORM now() AT TIME ZONE timezone;

    IF expression LIKE '@every%' THEN
        every_us := (SELECT sum(m[1]::bigint * CASE m[2] WHEN 's' THEN 1 WHEN 'm' THEN 60
                                                         WHEN 'h' THEN 3600 ELSE 86400 END)
                       FROM regexp_matches(substr(expression, 7), '([0-9]{1,9})([smhd])', 'g') AS m)
                    * 1000000;
        FOR i IN 1..n LOOP
            cursor_at := 'epoch'::timestamptz + interval '1 microsecond' * (every_us * (
                floor(extract(epoch FROM cursor_at) * 1000000 / every_us)::bigint + 1));
            slot_at := cursor_at;
            wall_time := cursor_at AT TIME ZONE timezone;
            dst_note := NULL;
            RETURN NEXT;
        END LOOP;
        RETURN;
    END IF;

    -- Names keep their case in the resolved text, so parse what was written.
    IF left(expression, 1) <> '@' THEN
        expression := btrim(schedule, E' \t');
    END IF;
    expression := CASE expression
        WHEN '@yearly' THEN '0 0 1 1 *'
        WHEN '@annually' THEN '0 0 1 1 *'
        WHEN '@monthly' THEN '0 0 1 * *'
        WHEN '@weekly' THEN '0 0 * * 0'
        WHEN '@daily' THEN '0 0 * * *'
        WHEN '@midnight' THEN '0 0 * * *'
        WHEN '@hourly' THEN '0 * * * *'
        ELSE expression
    END;
    cron := pgsched.cron_parse(expression, job_name);
    IF cron.has_hash AND job_name IS NULL THEN
        RAISE EXCEPTION 'pgsched.schedule_slots: %: H picks its value from the job''s name, and no job name was given',
                        quote_literal(schedule)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    FOR i IN 1..n LOOP
        wall := cursor_at AT TIME ZONE timezone;
        here := pgsched.wall_clock_instants(wall, timezone);
        candidate := NULL;
        IF here.kind = 'ambiguous' THEN
            -- `after` lies inside an autumn repeat (_next_from_repeated_hour).
            second_pass := cursor_at = here.second_at;
            transition := pgsched.zone_transition_after(here.first_at, timezone);
            repeat_start := (transition AT TIME ZONE 'UTC') + pgsched.zone_offset(transition, timezone);
            repeat_end := (transition AT TIME ZONE 'UTC') + pgsched.zone_offset(here.first_at, timezone);
            candidate := pgsched.cron_next_match(wall, cron.seconds, cron.minutes, cron.hours, cron.days_of_month, cron.months,
                cron.weekdays, cron.days_or, cron.has_rules, cron.last_offsets, cron.nearest,
                cron.last_weekday, cron.last_of, cron.nth);
            IF candidate < repeat_end AND (NOT second_pass OR cron.hour_is_wildcard) THEN
                here := pgsched.wall_clock_instants(candidate, timezone);
                slot_at := CASE WHEN second_pass THEN here.second_at ELSE here.first_at END;
                wall_time := candidate;
                dst_note := CASE WHEN second_pass THEN 'repeated_hour' END;
            ELSE
                candidate := NULL;
                IF NOT second_pass AND cron.hour_is_wildcard THEN
                    candidate := pgsched.cron_next_match(repeat_start - interval '1 second',
                        cron.seconds, cron.minutes, cron.hours, cron.days_of_month, cron.months,
                        cron.weekdays, cron.days_or, cron.has_rules, cron.last_offsets, cron.nearest,
                        cron.last_weekday, cron.last_of, cron.nth);
                    IF candidate < repeat_end THEN
                        here := pgsched.wall_clock_instants(candidate, timezone);
                        slot_at := here.second_at;
                        wall_time := candidate;
                        dst_note := 'repeated_hour';
                    ELSE
                        candidate := NULL;
                    END IF;
                END IF;
                IF candidate IS NULL THEN
                    wall := repeat_end - interval '1 second';
                END IF;
            END IF;
        END IF;

        IF candidate IS NULL THEN
            -- _fire_at: the next matching wall-clock time, reached from before it.
            candidate := pgsched.cron_next_match(wall, cron.seconds, cron.minutes, cron.hours, cron.days_of_month, cron.months,
                cron.weekdays, cron.days_or, cron.has_rules, cron.last_offsets, cron.nearest,
                cron.last_weekday, cron.last_of, cron.nth);
            here := pgsched.wall_clock_instants(candidate, timezone);
            wall_time := candidate;
            IF here.kind = 'missing' THEN
                slot_at := pgsched.zone_transition_after(here.second_at, timezone);
                dst_note := 'shifted_by_dst_gap';
            ELSE
                slot_at := here.first_at;
                dst_note := NULL;
            END IF;
        END IF;

        RETURN NEXT;
        cursor_at := slot_at;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION pgsched.schedule_slots(text, text, timestamptz, integer, text) IS
    'Next n slots of a schedule in a time zone after an instant (job_name: what H hashes), with the DST rules of pgsched/schedule.py: slot_at (the firing instant), wall_time (the wall-clock slot), dst_note (shifted_by_dst_gap, repeated_hour or NULL).';
