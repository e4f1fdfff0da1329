-- The first instant after `instant` whose UTC offset in `zone` differs from the
-- offset at `instant`: a DST transition. A port of _transition_after in
-- pgsched/schedule.py (a bisection to the second over at most a day), only called
-- next to a known transition.
CREATE OR REPLACE FUNCTION pgsched.zone_transition_after(instant timestamptz, zone text)
RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    start_offset constant interval := pgsched.zone_offset(instant, zone);
    low timestamptz := instant;
    high timestamptz := instant + interval '24 hours';
    middle timestamptz;
BEGIN
    WHILE high - low > interval '1 second' LOOP
        middle := low + (high - low) / 2;
        IF pgsched.zone_offset(middle, zone) = start_offset THEN
            low := middle;
        ELSE
            high := middle;
        END IF;
    END LOOP;
    RETURN date_trunc('second', high, 'UTC');
END;
$$;

COMMENT ON FUNCTION pgsched.zone_transition_after(timestamptz, text) IS
    'First instant after the given one at which the zone''s UTC offset changes (searched within a day). Used by pgsched.schedule_slots.';
