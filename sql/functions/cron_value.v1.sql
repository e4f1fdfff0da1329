-- One value of a cron field (a number or a name), or why it is not one.
-- A port of _parse_value in pgsched/scheduling/cron_fields.py, message for message.
CREATE OR REPLACE FUNCTION pgsched.cron_value(
    part text,
    field_name text,
    low integer,
    high integer,
    names text[],
    names_start integer,
    OUT value integer,
    OUT error text
)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    name_index integer := array_position(names, lower(part));
BEGIN
    IF name_index IS NOT NULL THEN
        value := name_index - 1 + names_start;
    ELSIF part !~ '^[0-9]+$' THEN
        error := format('%s field: %L is not a number%s', field_name, part,
                        CASE WHEN cardinality(names) > 0
                             THEN format(' or a name (%s)', array_to_string(names, ', '))
                             ELSE '' END);
    ELSIF part::numeric NOT BETWEEN low AND high THEN
        error := format('%s field: %s is out of range %s-%s', field_name, part::numeric, low, high);
    ELSE
        value := part::integer;
    END IF;
END;
$$;

COMMENT ON FUNCTION pgsched.cron_value(text, text, integer, integer, text[], integer) IS
    'One value of a cron field, a number or a name (value), or why it is not one (error). Used by pgsched.cron_field.';
