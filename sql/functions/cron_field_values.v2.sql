-- The values one cron field allows, or why it is invalid.
-- Mirrors pgsched/scheduling/cron.py (parse_field); tests/integration/test_schedule_sql_parity.py
-- keeps the two in agreement.
-- v2: a step wider than the field's range is refused (*/60 in the minute field would
-- fire at minute 0 only, never every 60 minutes as it seems to say).
CREATE OR REPLACE FUNCTION pgsched.cron_field_values(
    field text,
    field_name text,
    low integer,
    high integer,
    names text[] DEFAULT '{}',
    names_start integer DEFAULT 0,
    OUT vals integer[],
    OUT error text
)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    item text;
    base text;
    step_text text;
    step integer;
    bounds text[];
    first_value integer;
    last_value integer;
    part text;
    parsed integer[];
    name_index integer;
BEGIN
    vals := '{}';
    FOREACH item IN ARRAY string_to_array(field, ',') LOOP
        IF item = '' THEN
            error := format('%s field: empty list item in %L', field_name, field);
            RETURN;
        END IF;

        step := 1;
        base := split_part(item, '/', 1);
        IF position('/' IN item) > 0 THEN
            step_text := substr(item, position('/' IN item) + 1);
            IF step_text !~ '^[0-9]+$' OR step_text::numeric = 0 THEN
                error := format('%s field: step %L must be a positive integer', field_name, step_text);
                RETURN;
            END IF;
            IF step_text::numeric > high - low THEN
                error := format('%s field: step %s is larger than the field''s range %s-%s',
                                field_name, step_text::numeric, low, high);
                RETURN;
            END IF;
            step := step_text::integer;
        END IF;

        IF base = '*' THEN
            first_value := low;
            last_value := high;
        ELSE
            bounds := ARRAY[split_part(base, '-', 1),
                            CASE WHEN position('-' IN base) > 0
                                 THEN substr(base, position('-' IN base) + 1) END];
            parsed := '{}';
            FOREACH part IN ARRAY bounds LOOP
                CONTINUE WHEN part IS NULL;
                name_index := array_position(names, lower(part));
                IF name_index IS NOT NULL THEN
                    parsed := parsed || (name_index - 1 + names_start);
                ELSIF part !~ '^[0-9]+$' THEN
                    error := format('%s field: %L is not a number%s', field_name, part,
                                    CASE WHEN cardinality(names) > 0
                                         THEN format(' or a name (%s)', array_to_string(names, ', '))
                                         ELSE '' END);
                    RETURN;
                ELSIF part::numeric NOT BETWEEN low AND high THEN
                    error := format('%s field: %s is out of range %s-%s',
                                    field_name, part::numeric, low, high);
                    RETURN;
                ELSE
                    parsed := parsed || part::integer;
                END IF;
            END LOOP;
            first_value := parsed[1];
            IF cardinality(parsed) = 2 THEN
                last_value := parsed[2];
                IF last_value < first_value THEN
                    error := format('%s field: range %L runs backwards', field_name, base);
                    RETURN;
                END IF;
            ELSIF position('/' IN item) > 0 THEN
                last_value := high;
            ELSE
                last_value := first_value;
            END IF;
        END IF;

        vals := vals || ARRAY(SELECT generate_series(first_value, last_value, step));
    END LOOP;
END;
$$;

COMMENT ON FUNCTION pgsched.cron_field_values(text, text, integer, integer, text[], integer) IS
    'Values one cron field allows (vals), or why it is invalid (error). Used by pgsched.schedule_error.';
