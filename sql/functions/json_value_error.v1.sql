-- Why a JSON value is too big or too deeply nested to store in a job, or NULL when it
-- fits. Workers decode args and checkpoint on every claim: a value nested thousands
-- of levels deep would exhaust the decoder's recursion and stop every claim that meets
-- it, so both are bounded when written (the callers pass their limits).
--
-- The depth is counted level by level over the value's containers, without recursion:
-- a scalar is 0 deep, {} and [] are 1 deep, {"a": [1]} is 2 deep. The size bound is
-- checked first, so the walk never sees more than max_bytes of JSON.
CREATE OR REPLACE FUNCTION pgsched.json_value_error(value jsonb, max_depth integer, max_bytes integer)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    size bigint;
    level jsonb[];
    depth integer := 1;
BEGIN
    IF value IS NULL THEN
        RETURN NULL;
    END IF;
    size := octet_length(value::text);
    IF size > max_bytes THEN
        RETURN format('is %s bytes of JSON, more than the %s allowed', size, max_bytes);
    END IF;
    IF jsonb_typeof(value) NOT IN ('object', 'array') THEN
        RETURN NULL;
    END IF;
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
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION pgsched.json_value_error(jsonb, integer, integer) IS
    'Why a JSON value is larger than max_bytes (as text) or nests deeper than max_depth, or NULL when it fits. Bounds jobs.args and jobs.checkpoint.';
