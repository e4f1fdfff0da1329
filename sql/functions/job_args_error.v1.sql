-- Why a job's args do not fit its kind, or NULL when they do.
-- What args hold per kind (docs/reference/job-kinds.md): python: keyword arguments;
-- shell: env, cwd; http: method, headers, body, expect_status; sql: none needed.
CREATE OR REPLACE FUNCTION pgsched.job_args_error(kind text, args jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    unknown text;
BEGIN
    IF args IS NULL OR kind IS NULL THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(args) <> 'object' THEN
        RETURN format('must be a JSON object, not %s', jsonb_typeof(args));
    END IF;

    IF kind = 'shell' THEN
        SELECT string_agg(key, ', ' ORDER BY key) INTO unknown
          FROM jsonb_object_keys(args) AS key WHERE key NOT IN ('env', 'cwd');
        IF unknown IS NOT NULL THEN
            RETURN format('unknown key(s) for a shell job: %s (allowed: env, cwd)', unknown);
        END IF;
        IF args ? 'env' AND (jsonb_typeof(args->'env') <> 'object' OR EXISTS (
                SELECT 1 FROM jsonb_each(args->'env') AS e WHERE jsonb_typeof(e.value) <> 'string')) THEN
            RETURN 'env must be an object of strings';
        END IF;
        IF args ? 'cwd' AND jsonb_typeof(args->'cwd') <> 'string' THEN
            RETURN 'cwd must be a string';
        END IF;
    ELSIF kind = 'http' THEN
        SELECT string_agg(key, ', ' ORDER BY key) INTO unknown
          FROM jsonb_object_keys(args) AS key
         WHERE key NOT IN ('method', 'headers', 'body', 'expect_status');
        IF unknown IS NOT NULL THEN
            RETURN format('unknown key(s) for an http job: %s (allowed: method, headers, body, expect_status)',
                          unknown);
        END IF;
        IF args ? 'method' AND (jsonb_typeof(args->'method') <> 'string' OR upper(args->>'method')
                NOT IN ('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')) THEN
            RETURN format('method %s is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS',
                          args->'method');
        END IF;
        IF args ? 'headers' AND (jsonb_typeof(args->'headers') <> 'object' OR EXISTS (
                SELECT 1 FROM jsonb_each(args->'headers') AS h WHERE jsonb_typeof(h.value) <> 'string')) THEN
            RETURN 'headers must be an object of strings';
        END IF;
        IF args ? 'expect_status' AND NOT (
                (jsonb_typeof(args->'expect_status') = 'number'
                 AND (args->>'expect_status')::numeric BETWEEN 100 AND 599)
                OR (jsonb_typeof(args->'expect_status') = 'array'
                    AND jsonb_array_length(args->'expect_status') > 0
                    AND NOT EXISTS (
                        SELECT 1 FROM jsonb_array_elements(args->'expect_status') AS s
                         WHERE jsonb_typeof(s) <> 'number' OR s::text::numeric NOT BETWEEN 100 AND 599))) THEN
            RETURN 'expect_status must be an HTTP status (100-599) or a non-empty list of them';
        END IF;
    ELSIF kind = 'sql' AND args <> '{}'::jsonb THEN
        RETURN 'an sql job takes no args (put values in the statement)';
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION pgsched.job_args_error(text, jsonb) IS
    'Why a job''s args do not fit its kind, or NULL when they do.';
