-- The next n slots of a job, in its time zone, marking those a DST transition moves.
--
-- Computed in SQL by pgsched.schedule_slots, a port of pgsched/schedule.py (the
-- worker's own rules) that a test holds to the Python original over many schedules
-- and zones; no worker needs to run, and nothing is cached that could go stale.
-- `after` (default now()) lets a change be previewed across a known transition.
--
-- v2: H in a schedule picks its values from the job's name, and resolved_schedule
-- (a last column) shows what it picked: H/15 * * * * may fire as 7-59/15 * * * *.
CREATE OR REPLACE FUNCTION pgsched.preview_runs(
    job_name text,
    n integer DEFAULT 10,
    after timestamptz DEFAULT now()
)
RETURNS TABLE (
    slot integer,
    scheduled_for timestamptz,
    local_time timestamp,
    wall_time timestamp,
    timezone text,
    dst_note text,
    dst_shifted boolean,
    resolved_schedule text
)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    job record;
BEGIN
    SELECT j.name, j.schedule, j.timezone INTO job FROM pgsched.jobs AS j WHERE j.name = preview_runs.job_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pgsched.preview_runs: no job named %', quote_literal(preview_runs.job_name)
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT name FROM pgsched.jobs lists the jobs.';
    END IF;
    RETURN QUERY
    SELECT s.position::integer, s.slot_at, s.slot_at AT TIME ZONE job.timezone, s.wall_time,
           job.timezone, s.dst_note, s.dst_note IS NOT DISTINCT FROM 'shifted_by_dst_gap',
           pgsched.schedule_resolved(job.schedule, job.name)
      FROM pgsched.schedule_slots(job.schedule, job.timezone, preview_runs.after, preview_runs.n,
                                  job.name)
           WITH ORDINALITY AS s(slot_at, wall_time, dst_note, position);
END;
$$;

COMMENT ON FUNCTION pgsched.preview_runs(text, integer, timestamptz) IS
    'Next n slots of the job after `after` (default now()): scheduled_for (UTC instant), local_time (when it fires on the job''s wall clock), wall_time (the slot it stands for), dst_note (shifted_by_dst_gap or repeated_hour), dst_shifted and resolved_schedule (the schedule with H replaced by what it picks for this job).';
