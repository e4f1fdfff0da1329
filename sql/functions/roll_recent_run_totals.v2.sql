-- Moves the start of pgsched.recent_run_totals forward to `new_first_day`,
-- subtracting the days that left it, as counted in pgsched.daily_run_totals. Called
-- by pgsched.runs_count_totals at most once a day. It needs the totals lock alone,
-- and does nothing when it cannot have it at once or when there is nothing to do;
-- it never moves the start past today - 29, which would drop days still in the window.
--
-- v2: the recent totals cover the days from first_day up to, not including,
-- next_day (runs_count_totals v3 writes the days from next_day on, today's, to the
-- daily totals alone). The roll also moves next_day to today, adding the days it
-- passes (normally yesterday) from the daily totals: once a day, one row per job
-- that had an outcome that day, instead of one more row per finished run.
CREATE OR REPLACE FUNCTION pgsched.roll_recent_run_totals(new_first_day date)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- 'pgst', as in pgsched.runs_count_totals.
    totals_lock constant bigint := 1885827956;
    today constant date := (now() AT TIME ZONE 'UTC')::date;
    old_first_day date;
    old_next_day date;
    new_next_day date;
BEGIN
    IF new_first_day > today - 29 THEN
        RAISE EXCEPTION 'pgsched.roll_recent_run_totals: % is inside the 30-day window', new_first_day
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT pg_try_advisory_xact_lock(totals_lock) THEN
        RETURN;
    END IF;
    SELECT s.first_day, s.next_day INTO old_first_day, old_next_day
      FROM pgsched.recent_run_totals_starts AS s;
    IF old_first_day >= new_first_day THEN
        RETURN;
    END IF;
    new_next_day := greatest(old_next_day, today);
    -- The days that leave: [old_first_day, least(old_next_day, new_first_day)).
    UPDATE pgsched.recent_run_totals AS t
       SET successful_runs = t.successful_runs - e.successful_runs,
           failed_runs = t.failed_runs - e.failed_runs,
           duration_ms_sum = t.duration_ms_sum - e.duration_ms_sum,
           timed_runs = t.timed_runs - e.timed_runs
      FROM (SELECT a.job_name, sum(a.successful_runs) AS successful_runs,
                   sum(a.failed_runs) AS failed_runs, sum(a.duration_ms_sum) AS duration_ms_sum,
                   sum(a.timed_runs) AS timed_runs
              FROM pgsched.daily_run_totals AS a
             WHERE a.day >= old_first_day AND a.day < least(old_next_day, new_first_day)
             GROUP BY a.job_name
             ORDER BY a.job_name) AS e
     WHERE t.job_name = e.job_name;
    -- The days that join: [greatest(old_next_day, new_first_day), new_next_day).
    INSERT INTO pgsched.recent_run_totals AS t
           (job_name, successful_runs, failed_runs, duration_ms_sum, timed_runs, last_run_at)
    SELECT a.job_name, sum(a.successful_runs), sum(a.failed_runs), sum(a.duration_ms_sum),
           sum(a.timed_runs), max(a.last_run_at)
      FROM pgsched.daily_run_totals AS a
     WHERE a.day >= greatest(old_next_day, new_first_day) AND a.day < new_next_day
     GROUP BY a.job_name
     ORDER BY a.job_name
    ON CONFLICT (job_name) DO UPDATE
       SET successful_runs = t.successful_runs + excluded.successful_runs,
           failed_runs = t.failed_runs + excluded.failed_runs,
           duration_ms_sum = t.duration_ms_sum + excluded.duration_ms_sum,
           timed_runs = t.timed_runs + excluded.timed_runs,
           last_run_at = greatest(t.last_run_at, excluded.last_run_at);
    DELETE FROM pgsched.recent_run_totals AS t WHERE t.successful_runs + t.failed_runs <= 0;
    -- A latest start that belonged to a day now gone comes from the days that remain.
    UPDATE pgsched.recent_run_totals AS t
       SET last_run_at = (SELECT max(a.last_run_at) FROM pgsched.daily_run_totals AS a
                           WHERE a.job_name = t.job_name AND a.day >= new_first_day
                             AND a.day < new_next_day)
      FROM (SELECT a.job_name, max(a.last_run_at) AS last_run_at
              FROM pgsched.daily_run_totals AS a
             WHERE a.day >= old_first_day AND a.day < least(old_next_day, new_first_day)
             GROUP BY a.job_name) AS e
     WHERE t.job_name = e.job_name AND t.last_run_at <= e.last_run_at;
    UPDATE pgsched.recent_run_totals_starts
       SET first_day = new_first_day, next_day = new_next_day;
END;
$$;

COMMENT ON FUNCTION pgsched.roll_recent_run_totals(date) IS
    'Moves pgsched.recent_run_totals to cover the days from new_first_day (at most today - 29) up to today, subtracting the days that left it and adding those it passed. Called by the runs_count_totals trigger.';
