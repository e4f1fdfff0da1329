-- The values of one plain cron item (*, */s, v, v-w, v/s, v-w/s), or why it is
-- invalid. A port of _parse_item and _parse_step in pgsched/scheduling/cron_fields.py:
-- a range whose end is below its start wraps around the field's end (22-2 hours:
-- 22, 23, 0, 1, 2); day-of-week (low 0, high 7) wraps over its 7 days, 7 being 0.
CREATE OR REPLACE FUNCTION pgsched.cron_items(
    item text,
    field_name text,
    low integer,
    high integer,
    names text[],
    names_start integer,
    OUT vals integer[],
    OUT error text
)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    slash constant integer := position('/' IN item);
    base text := item;
    step_text text;
    step integer := 1;
    dash integer;
    first_value record;
    last_value record;
    wrap_low integer := low;
    period integer := high - low + 1;
    first_at integer;
BEGIN
    IF slash > 0 THEN
        base := substr(item, 1, slash - 1);
        step_text := substr(item, slash + 1);
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
        vals := ARRAY(SELECT generate_series(low, high, step));
        RETURN;
    END IF;
    dash := position('-' IN base);
    first_value := pgsched.cron_value(CASE WHEN dash > 0 THEN substr(base, 1, dash - 1) ELSE base END,
                                      field_name, low, high, names, names_start);
    IF first_value.error IS NOT NULL THEN
        error := first_value.error;
        RETURN;
    END IF;
    IF dash = 0 THEN
        vals := ARRAY(SELECT generate_series(first_value.value,
                                             CASE WHEN slash > 0 THEN high ELSE first_value.value END,
                                             step));
        RETURN;
    END IF;
    last_value := pgsched.cron_value(substr(base, dash + 1), field_name, low, high, names, names_start);
    IF last_value.error IS NOT NULL THEN
        error := last_value.error;
        RETURN;
    END IF;
    IF last_value.value >= first_value.value THEN
        vals := ARRAY(SELECT generate_series(first_value.value, last_value.value, step));
        RETURN;
    END IF;
    IF field_name = 'day-of-week' THEN
        wrap_low := 0;
        period := 7;
    END IF;
    first_at := wrap_low + (first_value.value - wrap_low) % period;
    vals := ARRAY(SELECT wrap_low + (first_at - wrap_low + k) % period
                    FROM generate_series(0, ((last_value.value - first_at) % period + period) % period, step) AS k);
END;
$$;

COMMENT ON FUNCTION pgsched.cron_items(text, text, integer, integer, text[], integer) IS
    'Values of one plain cron item (*, */s, v, v-w, v/s, v-w/s; ranges wrap: 22-2, FRI-MON), or why it is invalid. Used by pgsched.cron_field.';
