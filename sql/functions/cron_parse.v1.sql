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
    written constant integer := cardinality(fields);
    digest constant text := CASE WHEN job_name IS NOT NULL THEN md5(convert_to(job_name, 'UTF8')) END;
    lows constant integer[] := '{0,0,0,1,1,0}';
    highs constant integer[] := '{59,59,23,31,12,7}';
    longest constant integer[] := '{31,29,31,30,31,30,31,31,30,31,30,31}';
    field text;
    plain integer[];
    parsed record;
    texts text[] := '{}';
    -- What the never-fires check needs of the two fields it compares.
    dom_needs integer;
    dom_special boolean := false;
    dom_hash boolean := false;
    month_offers integer;
    month_hash boolean := false;
BEGIN
    IF written = 5 THEN
        fields := '0'::text || fields;
    ELSIF written <> 6 THEN
        error := format('expected 5 fields (minute hour day-of-month month day-of-week) '
                        'or 6 (second first), got %s', written);
        RETURN;
    END IF;
    has_hash := false;
    last_offsets := '{}'; nearest := '{}'; last_weekday := false; last_of := '{}'; nth := '{}';
    FOR k IN 0..5 LOOP
        field := fields[k + 1];
        IF field = '*' OR (field ~ '^[0-9]{1,2}$' AND field::integer BETWEEN lows[k + 1] AND highs[k + 1]) THEN
            -- The fields most schedules are made of ('*', '0', '9') skip cron_field, which
            -- would answer the same: INSERT validates every job with this.
            plain := CASE WHEN field = '*' THEN ARRAY(SELECT generate_series(lows[k + 1], highs[k + 1]))
                          ELSE ARRAY[field::integer] END;
            texts := texts || field;
            CASE k
                WHEN 0 THEN seconds := plain;
                WHEN 1 THEN minutes := plain;
                WHEN 2 THEN hours := plain;
                WHEN 3 THEN
                    days_of_month := plain;
                    dom_needs := plain[1];
                WHEN 4 THEN
                    months := plain;
                    month_offers := CASE WHEN field = '*' THEN 31 ELSE longest[plain[1]] END;
                ELSE
                    weekdays := CASE WHEN field = '*' THEN '{0,1,2,3,4,5,6}'::integer[]
                                     ELSE ARRAY[plain[1] % 7] END;
            END CASE;
            CONTINUE;
        END IF;
        parsed := pgsched.cron_field(
            field, k, coalesce(('x' || substr(digest, 4 * k + 1, 4))::bit(16)::integer, 0));
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
                days_of_month := parsed.vals;
                last_offsets := parsed.last_offsets;
                nearest := parsed.nearest;
                last_weekday := parsed.last_weekday;
                dom_needs := parsed.needs_days;
                dom_special := parsed.special;
                dom_hash := parsed.has_hash;
            WHEN 4 THEN
                months := parsed.vals;
                month_offers := parsed.offers_days;
                month_hash := parsed.has_hash;
            ELSE
                weekdays := ARRAY(SELECT DISTINCT d % 7 FROM unnest(parsed.vals) AS d);
                last_of := parsed.last_of;
                nth := parsed.nth;
        END CASE;
    END LOOP;
    has_rules := dom_special OR cardinality(last_of) > 0 OR cardinality(nth) > 0;
    days_or := NOT (left(fields[4], 1) = '*' OR fields[4] = '?')
               AND NOT (left(fields[6], 1) = '*' OR fields[6] = '?');
    -- A day-of-month that no listed month has (31 February) never fires, unless the
    -- day-of-week field may fire it instead. H is judged by its worst choice.
    IF NOT days_or AND dom_needs > month_offers THEN
        IF dom_hash OR month_hash THEN
            error := format('schedule never fires for some job names: H in day-of-month %s '
                            'or month %s can pick a day that the month does not have',
                            fields[4], fields[5]);
        ELSE
            error := format('schedule never fires: day-of-month %s does not occur in month %s',
                            CASE WHEN dom_special THEN fields[4]
                                 ELSE (SELECT string_agg(d::text, ',' ORDER BY d)
                                         FROM (SELECT DISTINCT unnest(days_of_month) AS d) AS v) END,
                            (SELECT string_agg(m::text, ',' ORDER BY m)
                               FROM (SELECT DISTINCT unnest(months) AS m) AS v));
        END IF;
        RETURN;
    END IF;
    hour_is_wildcard := left(fields[3], 1) = '*';
    resolved := array_to_string(texts[7 - written:6], ' ');
END;
$$;

COMMENT ON FUNCTION pgsched.cron_parse(text, text) IS
    'A cron expression parsed for a job (a port of pgsched/scheduling/cron.py parse_cron): value sets, day rules, days_or, the expression with H resolved from md5 of the job''s name (resolved), or why it is invalid (error).';
