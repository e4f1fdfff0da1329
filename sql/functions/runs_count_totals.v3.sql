-- Keeps the run totals equal to a count of pgsched.runs, so that a 30-day success
-- rate over millions of runs reads one row per job:
--
--   pgsched.daily_run_totals   per job name and UTC day of the slot: successes
--                              (succeeded), failures (failed, timed_out, lost), the
--                              sum and number of their durations, the latest start.
--   pgsched.recent_run_totals  per job name, the same summed over the days from
--                              recent_run_totals_starts.first_day up to, not
--                              including, recent_run_totals_starts.next_day (v3).
--
-- Statement-level triggers with transition tables: one grouped upsert per table and
-- statement, not per row, touching rows in key order so that concurrent batches
-- cannot deadlock. A statement that changes no counted status (claims, starts,
-- skips) returns before taking any lock or writing anything.
--
-- Once a day the first writer moves first_day to today - 29, subtracting the days
-- that left the window (pgsched.roll_recent_run_totals). Writers hold an advisory
-- lock in share mode and the roll holds it alone, so a roll never interleaves with
-- a count; a writer that cannot take it alone leaves the roll to the next one.
--
-- It runs with its owner's rights: whoever may write runs (a worker's role, or
-- pgsched_admin through a job's deletion) keeps the totals without rights on them.
--
-- v2: a statement whose old rows count for nothing (an INSERT; the usual UPDATE, a
-- worker recording how running attempts ended) adds its new rows to both tables
-- straight from them, without gathering them into sorted arrays first: it is the
-- trigger's cost on every batch the worker finishes. One that counts no new row
-- returns after one look at its rows. Other changes (rows that counted before:
-- deletes, outcomes rewritten) take the general path, as in v1.
--
-- v3: the recent totals no longer include the days from next_day on (today, and
-- slots of days ahead): readers add those days' daily rows (one per job: today's).
-- A worker's batch of outcomes, all of today's slots, so writes one row per job
-- (its day's) instead of two; only outcomes of earlier days in the window (a slot
-- of yesterday finished after midnight, a correction) still add to both. The daily
-- roll adds the days it passes (yesterday) as it subtracts those that leave.
CREATE OR REPLACE FUNCTION pgsched.runs_count_totals()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- 'pgst': pgsched totals.
    totals_lock constant bigint := 1885827956;
    window_start constant date := (now() AT TIME ZONE 'UTC')::date - 29;
    first_day date;
    next_day date;
    -- The change to count, grouped by day and job name.
    days date[];
    names text[];
    successes bigint[];
    failures bigint[];
    durations double precision[];
    timed bigint[];
    latest_added timestamptz[];
    latest_removed timestamptz[];
    -- No old row of the statement counted: its new rows are all there is to add.
    only_added boolean := false;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_advisory_xact_lock(totals_lock);
        TRUNCATE pgsched.daily_run_totals, pgsched.recent_run_totals;
        UPDATE pgsched.recent_run_totals_starts
           SET first_day = window_start, next_day = window_start + 29;
        RETURN NULL;
    END IF;

    -- Separate branches: an INSERT's trigger has no old_runs to name.
    IF TG_OP = 'INSERT' THEN
        only_added := true;
    ELSIF TG_OP = 'UPDATE' THEN
        only_added := NOT EXISTS (SELECT 1 FROM old_runs AS o
                                   WHERE o.status IN ('succeeded', 'failed', 'timed_out', 'lost'));
    END IF;
    IF only_added THEN
        IF NOT EXISTS (SELECT 1 FROM new_runs AS n
                        WHERE n.status IN ('succeeded', 'failed', 'timed_out', 'lost')) THEN
            RETURN NULL;
        END IF;
        IF (SELECT s.first_day FROM pgsched.recent_run_totals_starts AS s) < window_start
           AND pg_try_advisory_xact_lock(totals_lock) THEN
            PERFORM pgsched.roll_recent_run_totals(window_start);
        ELSE
            PERFORM pg_advisory_xact_lock_shared(totals_lock);
        END IF;
        SELECT s.first_day, s.next_day INTO first_day, next_day
          FROM pgsched.recent_run_totals_starts AS s;
        INSERT INTO pgsched.daily_run_totals AS t
               (day, job_name, successful_runs, failed_runs, duration_ms_sum, timed_runs,
                last_run_at)
        SELECT (n.scheduled_for AT TIME ZONE 'UTC')::date, n.job_name,
               count(*) FILTER (WHERE n.status = 'succeeded'),
               count(*) FILTER (WHERE n.status <> 'succeeded'),
               coalesce(sum(n.duration_ms), 0), count(n.duration_ms), max(n.started_at)
          FROM new_runs AS n
         WHERE n.status IN ('succeeded', 'failed', 'timed_out', 'lost')
         GROUP BY 1, 2
         ORDER BY 1, 2
        ON CONFLICT (day, job_name) DO UPDATE
           SET successful_runs = t.successful_runs + excluded.successful_runs,
               failed_runs = t.failed_runs + excluded.failed_runs,
               duration_ms_sum = t.duration_ms_sum + excluded.duration_ms_sum,
               timed_runs = t.timed_runs + excluded.timed_runs,
               last_run_at = greatest(t.last_run_at, excluded.last_run_at);

        INSERT INTO pgsched.recent_run_totals AS t
               (job_name, successful_runs, failed_runs, duration_ms_sum, timed_runs, last_run_at)
        SELECT n.job_name,
               count(*) FILTER (WHERE n.status = 'succeeded'),
               count(*) FILTER (WHERE n.status <> 'succeeded'),
               coalesce(sum(n.duration_ms), 0), count(n.duration_ms), max(n.started_at)
          FROM new_runs AS n
         WHERE n.status IN ('succeeded', 'failed', 'timed_out', 'lost')
           AND (n.scheduled_for AT TIME ZONE 'UTC')::date >= first_day
           AND (n.scheduled_for AT TIME ZONE 'UTC')::date < next_day
         GROUP BY n.job_name
         ORDER BY n.job_name
        ON CONFLICT (job_name) DO UPDATE
           SET successful_runs = t.successful_runs + excluded.successful_runs,
               failed_runs = t.failed_runs + excluded.failed_runs,
               duration_ms_sum = t.duration_ms_sum + excluded.duration_ms_sum,
               timed_runs = t.timed_runs + excluded.timed_runs,
               last_run_at = greatest(t.last_run_at, excluded.last_run_at);
        RETURN NULL;
    END IF;

    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(g.day ORDER BY g.day, g.job_name), array_agg(g.job_name ORDER BY g.day, g.job_name),
               array_agg(g.successes ORDER BY g.day, g.job_name), array_agg(g.failures ORDER BY g.day, g.job_name),
               array_agg(g.durations ORDER BY g.day, g.job_name), array_agg(g.timed ORDER BY g.day, g.job_name),
               array_agg(g.latest ORDER BY g.day, g.job_name)
          INTO days, names, successes, failures, durations, timed, latest_added
          FROM (SELECT (n.scheduled_for AT TIME ZONE 'UTC')::date AS day, n.job_name,
                       count(*) FILTER (WHERE n.status = 'succeeded') AS successes,
                       count(*) FILTER (WHERE n.status <> 'succeeded') AS failures,
                       coalesce(sum(n.duration_ms), 0) AS durations, count(n.duration_ms) AS timed,
                       max(n.started_at) AS latest
                  FROM new_runs AS n
                 WHERE n.status IN ('succeeded', 'failed', 'timed_out', 'lost')
                 GROUP BY 1, 2) AS g;
    ELSIF TG_OP = 'UPDATE' THEN
        -- What the rows count for now, minus what they counted for before.
        SELECT array_agg(g.day ORDER BY g.day, g.job_name), array_agg(g.job_name ORDER BY g.day, g.job_name),
               array_agg(g.successes ORDER BY g.day, g.job_name), array_agg(g.failures ORDER BY g.day, g.job_name),
               array_agg(g.durations ORDER BY g.day, g.job_name), array_agg(g.timed ORDER BY g.day, g.job_name),
               array_agg(g.added ORDER BY g.day, g.job_name),
               CASE WHEN bool_or(g.any_removed) THEN array_agg(g.removed ORDER BY g.day, g.job_name) END
          INTO days, names, successes, failures, durations, timed, latest_added, latest_removed
          FROM (SELECT c.day, c.job_name, sum(c.successes) AS successes, sum(c.failures) AS failures,
                       sum(c.durations) AS durations, sum(c.timed) AS timed,
                       max(c.started_at) FILTER (WHERE c.sign > 0) AS added,
                       max(c.started_at) FILTER (WHERE c.sign < 0) AS removed,
                       bool_or(c.sign < 0) AS any_removed
                  FROM (SELECT (n.scheduled_for AT TIME ZONE 'UTC')::date AS day, n.job_name, 1 AS sign,
                               (n.status = 'succeeded')::integer AS successes,
                               (n.status <> 'succeeded')::integer AS failures,
                               coalesce(n.duration_ms, 0) AS durations,
                               (n.duration_ms IS NOT NULL)::integer AS timed, n.started_at
                          FROM new_runs AS n
                         WHERE n.status IN ('succeeded', 'failed', 'timed_out', 'lost')
                        UNION ALL
                        SELECT (o.scheduled_for AT TIME ZONE 'UTC')::date, o.job_name, -1,
                               -(o.status = 'succeeded')::integer, -(o.status <> 'succeeded')::integer,
                               -coalesce(o.duration_ms, 0), -(o.duration_ms IS NOT NULL)::integer,
                               o.started_at
                          FROM old_runs AS o
                         WHERE o.status IN ('succeeded', 'failed', 'timed_out', 'lost')) AS c
                 GROUP BY 1, 2
                HAVING sum(c.successes) <> 0 OR sum(c.failures) <> 0 OR sum(c.timed) <> 0
                    OR sum(c.durations) <> 0) AS g;
    ELSE  -- DELETE
        SELECT array_agg(g.day ORDER BY g.day, g.job_name), array_agg(g.job_name ORDER BY g.day, g.job_name),
               array_agg(-g.successes ORDER BY g.day, g.job_name), array_agg(-g.failures ORDER BY g.day, g.job_name),
               array_agg(-g.durations ORDER BY g.day, g.job_name), array_agg(-g.timed ORDER BY g.day, g.job_name),
               array_agg(NULL::timestamptz ORDER BY g.day, g.job_name),
               array_agg(g.latest ORDER BY g.day, g.job_name)
          INTO days, names, successes, failures, durations, timed, latest_added, latest_removed
          FROM (SELECT (o.scheduled_for AT TIME ZONE 'UTC')::date AS day, o.job_name,
                       count(*) FILTER (WHERE o.status = 'succeeded') AS successes,
                       count(*) FILTER (WHERE o.status <> 'succeeded') AS failures,
                       coalesce(sum(o.duration_ms), 0) AS durations, count(o.duration_ms) AS timed,
                       max(o.started_at) AS latest
                  FROM old_runs AS o
                 WHERE o.status IN ('succeeded', 'failed', 'timed_out', 'lost')
                 GROUP BY 1, 2) AS g;
    END IF;
    IF days IS NULL THEN
        RETURN NULL;
    END IF;

    IF (SELECT s.first_day FROM pgsched.recent_run_totals_starts AS s) < window_start
       AND pg_try_advisory_xact_lock(totals_lock) THEN
        PERFORM pgsched.roll_recent_run_totals(window_start);
    ELSE
        PERFORM pg_advisory_xact_lock_shared(totals_lock);
    END IF;
    SELECT s.first_day, s.next_day INTO first_day, next_day
      FROM pgsched.recent_run_totals_starts AS s;

    INSERT INTO pgsched.daily_run_totals AS t
           (day, job_name, successful_runs, failed_runs, duration_ms_sum, timed_runs, last_run_at)
    SELECT * FROM unnest(days, names, successes, failures, durations, timed, latest_added)
    ON CONFLICT (day, job_name) DO UPDATE
       SET successful_runs = t.successful_runs + excluded.successful_runs,
           failed_runs = t.failed_runs + excluded.failed_runs,
           duration_ms_sum = t.duration_ms_sum + excluded.duration_ms_sum,
           timed_runs = t.timed_runs + excluded.timed_runs,
           last_run_at = greatest(t.last_run_at, excluded.last_run_at);

    INSERT INTO pgsched.recent_run_totals AS t
           (job_name, successful_runs, failed_runs, duration_ms_sum, timed_runs, last_run_at)
    SELECT d.job_name, sum(d.successes), sum(d.failures), sum(d.durations), sum(d.timed),
           max(d.latest)
      FROM unnest(days, names, successes, failures, durations, timed, latest_added)
           AS d(day, job_name, successes, failures, durations, timed, latest)
     WHERE d.day >= first_day AND d.day < next_day
     GROUP BY d.job_name
     ORDER BY d.job_name
    ON CONFLICT (job_name) DO UPDATE
       SET successful_runs = t.successful_runs + excluded.successful_runs,
           failed_runs = t.failed_runs + excluded.failed_runs,
           duration_ms_sum = t.duration_ms_sum + excluded.duration_ms_sum,
           timed_runs = t.timed_runs + excluded.timed_runs,
           last_run_at = greatest(t.last_run_at, excluded.last_run_at);

    IF latest_removed IS NOT NULL THEN
        -- Runs were taken away: drop rows left with nothing, and give back the latest
        -- start to rows that may have lost theirs (from the runs, then the days).
        DELETE FROM pgsched.daily_run_totals AS t
         USING unnest(days, names) AS d(day, job_name)
         WHERE t.day = d.day AND t.job_name = d.job_name
           AND t.successful_runs + t.failed_runs <= 0;
        UPDATE pgsched.daily_run_totals AS t
           SET last_run_at = (
                SELECT max(k.started_at)
                  FROM (SELECT r.started_at
                          FROM pgsched.runs AS r
                         WHERE r.job_id = ANY(ARRAY(SELECT j.id FROM pgsched.jobs AS j
                                                     WHERE j.name = t.job_name)
                                              || ARRAY(SELECT o.job_id FROM old_runs AS o
                                                        WHERE o.job_name = t.job_name
                                                          AND o.job_id IS NOT NULL))
                           AND r.scheduled_for >= t.day::timestamp AT TIME ZONE 'UTC'
                           AND r.scheduled_for < (t.day + 1)::timestamp AT TIME ZONE 'UTC'
                           AND r.job_name = t.job_name
                           AND r.status IN ('succeeded', 'failed', 'timed_out', 'lost')
                        UNION ALL
                        SELECT r.started_at
                          FROM pgsched.runs AS r
                         WHERE r.job_id IS NULL
                           AND r.scheduled_for >= t.day::timestamp AT TIME ZONE 'UTC'
                           AND r.scheduled_for < (t.day + 1)::timestamp AT TIME ZONE 'UTC'
                           AND r.job_name = t.job_name
                           AND r.status IN ('succeeded', 'failed', 'timed_out', 'lost')) AS k)
          FROM unnest(days, names, latest_removed) AS d(day, job_name, removed)
         WHERE t.day = d.day AND t.job_name = d.job_name AND t.last_run_at <= d.removed;
        DELETE FROM pgsched.recent_run_totals AS t
         USING (SELECT DISTINCT d.job_name FROM unnest(names) AS d(job_name)) AS d
         WHERE t.job_name = d.job_name AND t.successful_runs + t.failed_runs <= 0;
        UPDATE pgsched.recent_run_totals AS t
           SET last_run_at = (SELECT max(a.last_run_at) FROM pgsched.daily_run_totals AS a
                               WHERE a.job_name = t.job_name AND a.day >= first_day
                                 AND a.day < next_day)
          FROM (SELECT d.job_name, max(d.removed) AS removed
                  FROM unnest(days, names, latest_removed) AS d(day, job_name, removed)
                 WHERE d.day >= first_day AND d.day < next_day
                 GROUP BY d.job_name) AS d
         WHERE t.job_name = d.job_name AND t.last_run_at <= d.removed;
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION pgsched.runs_count_totals() IS
    'Trigger on pgsched.runs keeping pgsched.daily_run_totals and pgsched.recent_run_totals (successes, failures and durations per job name) equal to a count of the runs.';
