-- A 5- or 6-field cron expression parsed for one job, or why it is invalid.
-- A port of parse_cron in pgsched/scheduling/cron.py.
--
-- H reads, in field k (0 second ... 5 day-of-week), hex digits 4k+1..4k+4 of
-- md5(convert_to(job_name, 'UTF8')) as a number: Python reads the same bytes, so a
-- job's slots are the same on every worker. With job_name NULL every H reads 0 and
-- has_hash says that the times are not the job's (validity never depends on the name).
-- days_or is Vixie cron's rule: both day fields restricted (neither starts with '*'
-- nor is '?') and a day matching either fires. resolved is the expression with each
-- H replaced by what it picked, with as many fields as written.
CREATE OR REPLACE FUNCTION pgsched.cron_parse(
    expression text,
    job_name text,
    OUT seconds integer[],
    OUT minutes integer[],
    OUT hours integer[],
    OUT days_of_month integer[],
    OUT months integer[],
    OUT weekdays integer[],
    OUT last_offsets integer[],
    OUT nearest integer[],
    OUT last_weekday boolean,
    OUT last_of integer[],
    OUT nth integer[],
    OUT days_or boolean,
    OUT hour_is_wildcard boolean,
    OUT has_rules boolean,
    OUT has_hash boolean,
    OUT resolved text,
    OUT error text
)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    fields text[] := regexp_split_to_array(btrim(expression, E' \t'), E'[ \t]+');
    written constant integer := cardinality(regexp_split_to_array(btrim(expression, E' \t'), E'[ \t]+'));
    digest constant text := CASE WHEN job_name IS NOT NULL THEN md5(convert_to(job_name, 'UTF8')) END;
    parsed record;
    days record;
    texts text[] := '{}';
BEGIN
    IF written = 5 THEN
        fields := '0'::text || fields;
    ELSIF written <> 6 THEN
        error := format('expected 5 fields (minute hour day-of-month month day-of-week) '
                        'or 6 (second first), got %s', written);
        RETURN;
    END IF;
    has_hash := false;
    has_rules := false;
    FOR k IN 0..5 LOOP
        parsed := pgsched.cron_field(
            fields[k + 1], k,
            coalesce(('x' || substr(digest, 4 * k + 1, 4))::bit(16)::integer, 0));
        IF parsed.error IS NOT NULL THEN
            error := parsed.error;
            RETURN;
        END IF;
        has_hash := has_hash OR parsed.has_hash;
        texts := texts || parsed.resolved;
        CASE k
            WHEN 0 THEN seconds := parsed.vals;
            WHEN 1 THEN minutes := parsed.vals;
            WHEN 2 THEN hours := parsed.vals;
            WHEN 3 THEN
                days := parsed;
                days_of_month := parsed.vals;
                last_offsets := parsed.last_offsets;
                nearest := parsed.nearest;
                last_weekday := parsed.last_weekday;
                has_rules := parsed.special;
            WHEN 4 THEN
                months := parsed.vals;
                days_or := NOT (left(fields[4], 1) = '*' OR fields[4] = '?')
                           AND NOT (left(fields[6], 1) = '*' OR fields[6] = '?');
                -- A day-of-month that no listed month has (31 February) never fires,
                -- unless the day-of-week field may fire it instead.
                IF NOT days_or AND days.needs_days > parsed.offers_days THEN
                    IF days.has_hash OR parsed.has_hash THEN
                        error := format('schedule never fires for some job names: H in day-of-month %s '
                                        'or month %s can pick a day that the month does not have',
                                        fields[4], fields[5]);
                    ELSE
                        error := format('schedule never fires: day-of-month %s does not occur in month %s',
                                        CASE WHEN days.special THEN fields[4]
                                             ELSE (SELECT string_agg(d::text, ',' ORDER BY d)
                                                     FROM (SELECT DISTINCT unnest(days.vals) AS d) AS v) END,
                                        (SELECT string_agg(m::text, ',' ORDER BY m)
                                           FROM (SELECT DISTINCT unnest(parsed.vals) AS m) AS v));
                    END IF;
                END IF;
            ELSE
                weekdays := ARRAY(SELECT DISTINCT CASE WHEN d = 7 THEN 0 ELSE d END
                                    FROM unnest(parsed.vals) AS d);
                last_of := parsed.last_of;
                nth := parsed.nth;
                has_rules := has_rules OR parsed.special;
        END CASE;
    END LOOP;
    IF error IS NOT NULL THEN
        RETURN;
    END IF;
    hour_is_wildcard := left(fields[3], 1) = '*';
    resolved := array_to_string(texts[7 - written:6], ' ');
END;
$$;

COMMENT ON FUNCTION pgsched.cron_parse(text, text) IS
    'A cron expression parsed for a job (a port of pgsched/scheduling/cron.py parse_cron): value sets, day rules, days_or, the expression with H resolved from md5 of the job''s name (resolved), or why it is invalid (error).';
