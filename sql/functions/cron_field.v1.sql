-- One cron field parsed: its plain values, the day fields' calendar rules, the field
-- with each H replaced by what it picked, or why it is invalid.
-- A port of parse_field in pgsched/scheduling/cron_fields.py (which documents the
-- grammar), item for item and message for message;
-- tests/integration/test_schedule_sql_parity.py holds the two to the same answers.
--
-- position: 0 second, 1 minute, 2 hour, 3 day-of-month, 4 month, 5 day-of-week.
-- hash: what H reads in this field (16 bits of the md5 of the job's name, see
-- pgsched.cron_parse). nth holds x#n as x * 10 + n. needs_days (day-of-month) and
-- offers_days (month) are the worst cases over every choice of H, for the
-- never-fires check.
CREATE OR REPLACE FUNCTION pgsched.cron_field(
    field text,
    field_position integer,
    hash integer,
    OUT vals integer[],
    OUT last_offsets integer[],
    OUT nearest integer[],
    OUT last_weekday boolean,
    OUT last_of integer[],
    OUT nth integer[],
    OUT resolved text,
    OUT has_hash boolean,
    OUT special boolean,
    OUT needs_days integer,
    OUT offers_days integer,
    OUT error text
)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    field_name constant text := (ARRAY['second', 'minute', 'hour', 'day-of-month', 'month',
                                       'day-of-week'])[field_position + 1];
    low constant integer := (ARRAY[0, 0, 0, 1, 1, 0])[field_position + 1];
    high constant integer := (ARRAY[59, 59, 23, 31, 12, 7])[field_position + 1];
    names constant text[] := CASE field_position
        WHEN 4 THEN '{jan,feb,mar,apr,may,jun,jul,aug,sep,oct,nov,dec}'::text[]
        WHEN 5 THEN '{sun,mon,tue,wed,thu,fri,sat}'::text[]
        ELSE '{}'::text[] END;
    names_start constant integer := CASE field_position WHEN 4 THEN 1 ELSE 0 END;
    -- A bare H in day-of-month stays within 1-28 so that it fires every month.
    longest constant integer[] := '{31,29,31,30,31,30,31,31,30,31,30,31}';
    is_dom constant boolean := field_position = 3;
    is_dow constant boolean := field_position = 5;
    texts text[] := '{}';
    item text;
    base text;
    upper_base text;
    slash integer;
    rest text;
    range_text text;
    close_at integer;
    dash integer;
    h_low integer;
    h_high integer;
    step integer;
    start_at integer;
    plain text;
    got record;
    number_text text;
    items record;
    worst integer;
BEGIN
    vals := '{}'; last_offsets := '{}'; nearest := '{}'; last_of := '{}'; nth := '{}';
    last_weekday := false; has_hash := false; special := false;
    needs_days := 99; offers_days := 0;

    IF position('?' IN field) > 0 THEN
        IF NOT (is_dom OR is_dow) THEN
            error := format('%s field: ? is only allowed in day-of-month and day-of-week', field_name);
        ELSIF field <> '?' THEN
            error := format('%s field: ? stands alone (any day), got %L', field_name, field);
        ELSE
            vals := ARRAY(SELECT generate_series(low, high));
            needs_days := low;
            resolved := '?';
        END IF;
        RETURN;
    END IF;

    FOREACH item IN ARRAY string_to_array(field, ',') LOOP
        IF item = '' THEN
            error := format('%s field: empty list item in %L', field_name, field);
            RETURN;
        END IF;

        IF upper(left(item, 1)) = 'H' THEN
            -- H, H/s, H(a-b), H(a-b)/s: _add_hash.
            rest := substr(item, 2);
            h_low := (ARRAY[0, 0, 0, 1, 1, 0])[field_position + 1];
            h_high := (ARRAY[59, 59, 23, 28, 12, 6])[field_position + 1];
            IF left(rest, 1) = '(' THEN
                close_at := position(')' IN rest);
                IF close_at = 0 THEN
                    error := format('%s field: %L is not H, H/step, H(low-high) or H(low-high)/step',
                                    field_name, item);
                    RETURN;
                END IF;
                range_text := substr(rest, 2, close_at - 2);
                rest := substr(rest, close_at + 1);
                dash := position('-' IN range_text);
                IF dash = 0 THEN
                    error := format('%s field: H(low-high) needs a range, got %L', field_name, item);
                    RETURN;
                END IF;
                got := pgsched.cron_value(substr(range_text, 1, dash - 1), field_name, low, high,
                                          names, names_start);
                IF got.error IS NOT NULL THEN error := got.error; RETURN; END IF;
                h_low := got.value;
                got := pgsched.cron_value(substr(range_text, dash + 1), field_name, low, high,
                                          names, names_start);
                IF got.error IS NOT NULL THEN error := got.error; RETURN; END IF;
                h_high := got.value;
                IF h_high < h_low THEN
                    error := format('%s field: H range %L runs backwards (H ranges do not wrap)',
                                    field_name, range_text);
                    RETURN;
                END IF;
            END IF;
            IF rest <> '' AND left(rest, 1) <> '/' THEN
                error := format('%s field: %L is not H, H/step, H(low-high) or H(low-high)/step',
                                field_name, item);
                RETURN;
            END IF;
            step := h_high - h_low + 1;
            IF rest <> '' THEN
                number_text := substr(rest, 2);
                IF number_text !~ '^[0-9]+$' OR number_text::numeric = 0 THEN
                    error := format('%s field: step %L must be a positive integer', field_name, number_text);
                    RETURN;
                END IF;
                IF number_text::numeric > high - low THEN
                    error := format('%s field: step %s is larger than the field''s range %s-%s',
                                    field_name, number_text::numeric, low, high);
                    RETURN;
                END IF;
                step := number_text::integer;
                IF step > h_high - h_low + 1 THEN
                    error := format('%s field: step %s is larger than H''s range %s-%s',
                                    field_name, step, h_low, h_high);
                    RETURN;
                END IF;
            END IF;
            start_at := h_low + hash % step;
            plain := CASE WHEN rest <> '' THEN format('%s-%s/%s', start_at, h_high, step)
                          ELSE start_at::text END;
            items := pgsched.cron_items(plain, field_name, low, high, names, names_start);
            vals := vals || items.vals;
            has_hash := true;
            texts := texts || plain;
            needs_days := least(needs_days, h_low + step - 1);
            IF field_position = 4 THEN
                SELECT min(m.most) INTO worst
                  FROM (SELECT coalesce(max(longest[v]), 0) AS most
                          FROM generate_series(0, step - 1) AS o
                          LEFT JOIN LATERAL generate_series(h_low + o, h_high, step) AS v ON true
                         GROUP BY o) AS m;
                offers_days := greatest(offers_days, worst);
            END IF;
            CONTINUE;
        END IF;

        texts := texts || item;
        slash := position('/' IN item);
        base := CASE WHEN slash > 0 THEN substr(item, 1, slash - 1) ELSE item END;
        upper_base := upper(base);
        -- L, W and # items: _add_special.
        IF position('#' IN upper_base) > 0 THEN
            IF NOT is_dow THEN
                error := format('%s field: # is only allowed in day-of-week, got %L', field_name, item);
                RETURN;
            END IF;
            got := pgsched.cron_value(split_part(base, '#', 1), field_name, low, high, names, names_start);
            IF got.error IS NOT NULL THEN error := got.error; RETURN; END IF;
            number_text := substr(base, position('#' IN base) + 1);
            IF number_text !~ '^[0-9]+$' OR number_text::numeric NOT BETWEEN 1 AND 5 THEN
                error := format('%s field: # needs a week 1-5, got %L', field_name, item);
                RETURN;
            END IF;
            nth := nth || (got.value % 7 * 10 + number_text::integer);
        ELSIF is_dom AND left(upper_base, 1) = 'L' THEN
            number_text := substr(upper_base, 3);
            IF upper_base = 'LW' THEN
                last_weekday := true;
                needs_days := least(needs_days, 1);
            ELSIF upper_base = 'L' OR (substr(upper_base, 2, 1) = '-' AND number_text ~ '^[0-9]+$') THEN
                IF number_text <> '' AND number_text::numeric > 30 THEN
                    error := format('%s field: L-n needs n from 0 to 30, got %L', field_name, item);
                    RETURN;
                END IF;
                last_offsets := last_offsets || coalesce(nullif(number_text, '')::integer, 0);
                needs_days := least(needs_days, coalesce(nullif(number_text, '')::integer, 0) + 1);
            ELSE
                error := format('%s field: %L is not L, LW or L-n', field_name, item);
                RETURN;
            END IF;
        ELSIF right(upper_base, 1) = 'W' THEN
            number_text := left(upper_base, -1);
            IF NOT is_dom THEN
                error := format('%s field: W is only allowed in day-of-month, got %L', field_name, item);
                RETURN;
            END IF;
            IF number_text !~ '^[0-9]+$' OR number_text::numeric NOT BETWEEN 1 AND 31 THEN
                error := format('%s field: W needs a day 1-31, got %L', field_name, item);
                RETURN;
            END IF;
            nearest := nearest || number_text::integer;
            needs_days := least(needs_days, number_text::integer);
        ELSIF is_dow AND right(upper_base, 1) = 'L' THEN
            IF upper_base = 'L' THEN
                error := format('%s field: L needs a weekday before it (5L or FRIL: the last Friday), got %L',
                                field_name, item);
                RETURN;
            END IF;
            got := pgsched.cron_value(left(base, -1), field_name, low, high, names, names_start);
            IF got.error IS NOT NULL THEN error := got.error; RETURN; END IF;
            last_of := last_of || got.value % 7;
        ELSIF NOT is_dow AND NOT is_dom AND (left(upper_base, 1) = 'L'
                              OR (right(upper_base, 1) = 'L' AND left(upper_base, -1) ~ '^[0-9]+$')) THEN
            error := format('%s field: L is only allowed in day-of-month and day-of-week, got %L',
                            field_name, item);
            RETURN;
        ELSE
            items := pgsched.cron_items(item, field_name, low, high, names, names_start);
            IF items.error IS NOT NULL THEN error := items.error; RETURN; END IF;
            vals := vals || items.vals;
            IF field_position = 3 THEN
                needs_days := least(needs_days, (SELECT min(v) FROM unnest(items.vals) AS v));
            ELSIF field_position = 4 THEN
                offers_days := greatest(offers_days, (SELECT max(longest[v]) FROM unnest(items.vals) AS v));
            END IF;
            CONTINUE;
        END IF;
        IF slash > 0 THEN
            error := format('%s field: %L takes no step, got %L', field_name, base, item);
            RETURN;
        END IF;
        special := true;
    END LOOP;
    resolved := array_to_string(texts, ',');
END;
$$;

COMMENT ON FUNCTION pgsched.cron_field(text, integer, integer) IS
    'One cron field parsed (a port of pgsched/scheduling/cron_fields.py): values, day rules (L-n, nW, LW, xL, x#n), the field with H resolved, or why it is invalid. Used by pgsched.cron_parse.';
