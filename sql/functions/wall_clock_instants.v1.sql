-- What a wall-clock time in a zone stands for, in PEP 495 terms (as Python's
-- zoneinfo, and so pgsched/schedule.py, sees it):
--   normal     one instant; first_at = second_at.
--   ambiguous  the clock was set back and shows this time twice (autumn):
--              first_at is the first pass (fold=0), second_at the second (fold=1).
--   missing    the clock jumped over it (spring gap): first_at applies the offset
--              from before the jump (fold=0), second_at the one after (fold=1).
-- The candidate offsets are those a day either side: every real zone changes its
-- offset at most once within two days.
CREATE OR REPLACE FUNCTION pgsched.wall_clock_instants(
    wall timestamp,
    zone text,
    OUT kind text,
    OUT first_at timestamptz,
    OUT second_at timestamptz
)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    as_utc constant timestamptz := wall AT TIME ZONE 'UTC';
    offset_before constant interval := pgsched.zone_offset(as_utc - interval '24 hours', zone);
    offset_after constant interval := pgsched.zone_offset(as_utc + interval '24 hours', zone);
    before_holds boolean;
    after_holds boolean;
BEGIN
    first_at := as_utc - offset_before;
    second_at := as_utc - offset_after;
    IF offset_before = offset_after THEN
        kind := 'normal';
        RETURN;
    END IF;
    before_holds := pgsched.zone_offset(first_at, zone) = offset_before;
    after_holds := pgsched.zone_offset(second_at, zone) = offset_after;
    IF before_holds AND after_holds THEN
        kind := 'ambiguous';
    ELSIF NOT before_holds AND NOT after_holds THEN
        kind := 'missing';
    ELSE
        kind := 'normal';
        IF after_holds THEN
            first_at := second_at;
        ELSE
            second_at := first_at;
        END IF;
    END IF;
END;
$$;

COMMENT ON FUNCTION pgsched.wall_clock_instants(timestamp, text) IS
    'Whether a wall-clock time in a zone is normal, ambiguous (autumn repeat) or missing (spring gap), with its fold=0 and fold=1 instants. Used by pgsched.schedule_slots.';
