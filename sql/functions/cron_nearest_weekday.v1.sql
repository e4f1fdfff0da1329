-- The weekday (Monday to Friday) nearest day `day` of `month_day`'s month, never in
-- another month (a month `last_day` days long): Quartz's W. A Saturday moves to the
-- Friday before (Monday the 3rd for the 1st), a Sunday to the Monday after (the
-- Friday before for the last day). A port of nearest_weekday in
-- pgsched/scheduling/cron_days.py.
CREATE OR REPLACE FUNCTION pgsched.cron_nearest_weekday(month_day date, day integer, last_day integer)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE extract(isodow FROM date_trunc('month', month_day)::date + (day - 1))
               WHEN 6 THEN CASE WHEN day = 1 THEN day + 2 ELSE day - 1 END
               WHEN 7 THEN CASE WHEN day = last_day THEN day - 2 ELSE day + 1 END
               ELSE day
           END::integer
$$;

COMMENT ON FUNCTION pgsched.cron_nearest_weekday(date, integer, integer) IS
    'The weekday nearest a day of a month, within the month (cron W). Used by pgsched.cron_next_match.';
