-- The latest `n` slots of each named job, newest first, with how each slot ended:
-- the status of its latest attempt (a retried slot ends as its last attempt did),
-- how many attempts it took, and the first line of that attempt's error. A gap
-- record (status skipped, missed_until set) stands for missed_slots passed-over slots.
--
-- One backward walk of the runs' (job_id, scheduled_for, attempt) key per job,
-- stopping after n slots, so its cost is jobs x n whatever the history's size.
-- With its owner's rights: pgsched_reader may not read pgsched.runs.
CREATE OR REPLACE FUNCTION pgsched.job_slot_outcomes(job_names text[], n integer DEFAULT 60)
RETURNS TABLE (
    job_name text,
    scheduled_for timestamptz,
    status text,
    attempts integer,
    trigger text,
    run_id bigint,
    missed_until timestamptz,
    missed_slots integer,
    error text
)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
    SELECT j.name, s.scheduled_for, s.status, s.attempt, s.trigger, s.id, s.missed_until,
           s.missed_slots, split_part(s.error, E'\n', 1)
      FROM pgsched.jobs AS j
     CROSS JOIN LATERAL (
            SELECT DISTINCT ON (r.scheduled_for)
                   r.scheduled_for, r.status, r.attempt, r.trigger, r.id, r.missed_until,
                   r.missed_slots, r.error
              FROM pgsched.runs AS r
             WHERE r.job_id = j.id
             ORDER BY r.scheduled_for DESC, r.attempt DESC
             LIMIT least(greatest(job_slot_outcomes.n, 1), 1000)) AS s
     WHERE j.name = ANY(job_slot_outcomes.job_names)
     ORDER BY j.name, s.scheduled_for DESC
$$;

COMMENT ON FUNCTION pgsched.job_slot_outcomes(text[], integer) IS
    'The latest n (at most 1,000) slots of each named job, newest first: scheduled_for, status of the latest attempt, attempts, trigger, run_id, missed_until and missed_slots of a gap record, and the first line of the error.';
