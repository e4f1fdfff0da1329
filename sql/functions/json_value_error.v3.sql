-- Why a JSON value is too big or too deeply nested to store in a job, or NULL when it
-- fits. Workers decode args and checkpoint on every claim: a value nested thousands
-- of levels deep would exhaust the decoder's recursion and stop every claim that meets
-- it, so both are bounded when written (the callers pass their limits).
--
-- The depth is counted level by level over the value's containers, without recursion:
-- a scalar is 0 deep, {} and [] are 1 deep, {"a": [1]} is 2 deep. The size bound is
-- checked first, so the walk never sees more than max_bytes of JSON.
--
-- v2: numbers are bounded too. jsonb keeps numbers exact and prints them in full
-- (1e5000 is a 1 and 5,000 zeros), and Python refuses to read an integer of more than
-- 4,300 digits (640 at the lowest setting of sys.set_int_max_str_digits): one such
-- number stopped every claim that met its row, as a value nested too deep did. Floats
-- need at most 309 digits before the point; 500 characters leave room for any of them.
--
-- v3: a value that cannot break either bound by its size is let through without the
-- walk: each level of nesting writes an opening { or [ (so a value with at most
-- max_depth of them, counted anywhere in its text, strings included, nests no deeper),
-- and a number longer than 500 characters makes the text longer than that. Most args
-- and checkpoints are small; the walk cost about 0.15 ms a row on every job INSERT.
CREATE OR REPLACE FUNCTION pgsched.json_value_error(value jsonb, max_depth integer, max_bytes integer)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    number_max_chars constant integer := 500;
    written constant text := value::text;
    size bigint;
    level jsonb[];
    depth integer := 1;
    longest integer;
BEGIN
    IF value IS NULL THEN
        RETURN NULL;
    END IF;
    size := octet_length(written);
    IF size > max_bytes THEN
        RETURN format('is %s bytes of JSON, more than the %s allowed', size, max_bytes);
    END IF;
    IF size <= number_max_chars
       AND length(written) - length(translate(written, '{[', '')) <= max_depth THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(value) IN ('object', 'array') THEN
        level := ARRAY[value];
        LOOP
            -- The containers one level further down.
            level := ARRAY(
                SELECT c.child
                  FROM unnest(level) AS p(node)
                 CROSS JOIN LATERAL (
                        SELECT e.value FROM jsonb_each(
                            CASE WHEN jsonb_typeof(p.node) = 'object' THEN p.node END) AS e
                        UNION ALL
                        SELECT a.value FROM jsonb_array_elements(
                            CASE WHEN jsonb_typeof(p.node) = 'array' THEN p.node END) AS a
                       ) AS c(child)
                 WHERE jsonb_typeof(c.child) IN ('object', 'array'));
            EXIT WHEN cardinality(level) = 0;
            depth := depth + 1;
            IF depth > max_depth THEN
                RETURN format('nests deeper than %s levels', max_depth);
            END IF;
        END LOOP;
    END IF;
    -- Only now that the depth is bounded: the path walks the value recursively.
    SELECT max(length(n.number::text)) INTO longest
      FROM jsonb_path_query(value, 'strict $.** ? (@.type() == "number")') AS n(number);
    IF longest > number_max_chars THEN
        RETURN format('holds a number of %s characters, more than the %s allowed '
                      '(Python cannot read such numbers back)', longest, number_max_chars);
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION pgsched.json_value_error(jsonb, integer, integer) IS
    'Why a JSON value is larger than max_bytes (as text), nests deeper than max_depth, or holds a number written with more than 500 characters; NULL when it fits. Bounds jobs.args and jobs.checkpoint.';
