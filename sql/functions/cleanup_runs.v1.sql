-- Removes runs that finished more than `older_than_days` days ago; returns how many.
-- Pending and running attempts are never removed, however old.
--
-- It walks the (job_id, scheduled_for, attempt) key in order, removing at most
-- `batch_size` rows per statement and resuming after the last row removed, so no
-- statement scans history it already passed and each stays short. A run finished
-- before the cutoff had its slot before it too, which bounds the walk. The only row
-- locks it takes are on the finished runs it removes, which workers never write, so
-- it never makes a worker wait; it does run in the caller's transaction, so call it
-- on its own (psql's autocommit) for the removals to be committed as one.
CREATE OR REPLACE FUNCTION pgsched.cleanup_runs(older_than_days integer DEFAULT 90)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    batch_size constant integer := 10000;
    cutoff constant timestamptz := now() - make_interval(days => older_than_days);
    removed bigint := 0;
    picked integer;
    deleted bigint;
    after_job bigint := -1;
    after_slot timestamptz := '-infinity';
    after_attempt integer := 0;
BEGIN
    IF older_than_days IS NULL OR older_than_days < 0 THEN
        RAISE EXCEPTION 'pgsched.cleanup_runs: older_than_days must be 0 or more, not %',
                        coalesce(older_than_days::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Runs of existing jobs, in key order. The walk resumes after the last row
    -- picked, and stops after a batch smaller than batch_size.
    LOOP
        WITH doomed AS MATERIALIZED (
            SELECT r.id, r.job_id, r.scheduled_for, r.attempt
              FROM pgsched.runs AS r
             WHERE (r.job_id, r.scheduled_for, r.attempt) > (after_job, after_slot, after_attempt)
               AND r.scheduled_for < cutoff
               AND r.status NOT IN ('pending', 'running')
               AND coalesce(r.finished_at, r.scheduled_for) < cutoff
             ORDER BY r.job_id, r.scheduled_for, r.attempt
             LIMIT batch_size
        ), gone AS (
            -- The status is checked again on the row as it is when deleted.
            DELETE FROM pgsched.runs AS r
             USING doomed AS d
             WHERE r.id = d.id AND r.status NOT IN ('pending', 'running')
            RETURNING r.id
        ), last_picked AS (
            SELECT d.job_id, d.scheduled_for, d.attempt
              FROM doomed AS d
             ORDER BY d.job_id DESC, d.scheduled_for DESC, d.attempt DESC
             LIMIT 1
        )
        SELECT (SELECT count(*) FROM doomed)::integer, (SELECT count(*) FROM gone),
               l.job_id, l.scheduled_for, l.attempt
          INTO picked, deleted, after_job, after_slot, after_attempt
          FROM (SELECT 1) AS one LEFT JOIN last_picked AS l ON true;
        removed := removed + deleted;
        EXIT WHEN picked < batch_size;
    END LOOP;

    -- Runs a deleted job left behind (job_id NULL), in slot order.
    after_slot := '-infinity';
    after_attempt := 0;
    LOOP
        WITH doomed AS MATERIALIZED (
            SELECT r.id, r.scheduled_for, r.attempt
              FROM pgsched.runs AS r
             WHERE r.job_id IS NULL
               AND (r.scheduled_for, r.attempt) > (after_slot, after_attempt)
               AND r.scheduled_for < cutoff
               AND r.status NOT IN ('pending', 'running')
               AND coalesce(r.finished_at, r.scheduled_for) < cutoff
             ORDER BY r.scheduled_for, r.attempt
             LIMIT batch_size
        ), gone AS (
            DELETE FROM pgsched.runs AS r
             USING doomed AS d
             WHERE r.id = d.id AND r.status NOT IN ('pending', 'running')
            RETURNING r.id
        ), last_picked AS (
            SELECT d.scheduled_for, d.attempt
              FROM doomed AS d
             ORDER BY d.scheduled_for DESC, d.attempt DESC
             LIMIT 1
        )
        SELECT (SELECT count(*) FROM doomed)::integer, (SELECT count(*) FROM gone),
               l.scheduled_for, l.attempt
          INTO picked, deleted, after_slot, after_attempt
          FROM (SELECT 1) AS one LEFT JOIN last_picked AS l ON true;
        removed := removed + deleted;
        EXIT WHEN picked < batch_size;
    END LOOP;
    RETURN removed;
END;
$$;

COMMENT ON FUNCTION pgsched.cleanup_runs(integer) IS
    'Deletes runs finished more than older_than_days days ago (never pending or running ones), at most 10,000 per statement; returns the number removed.';
