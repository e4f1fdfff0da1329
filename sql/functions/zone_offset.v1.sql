-- The UTC offset a time zone has at an instant (local wall clock minus UTC).
CREATE OR REPLACE FUNCTION pgsched.zone_offset(instant timestamptz, zone text)
RETURNS interval
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT (instant AT TIME ZONE zone) - (instant AT TIME ZONE 'UTC')
$$;

COMMENT ON FUNCTION pgsched.zone_offset(timestamptz, text) IS
    'UTC offset of the zone at the instant (+01:00 for Europe/Berlin in winter). Used by pgsched.schedule_slots.';
