-- When the row checks of pgsched.jobs fire. The functions are unchanged
-- (jobs_before_write v2, jobs_breaker_check v1); their triggers are not.
--
-- v3: on INSERT, pgsched.jobs_before_write runs only for rows that are not plainly
-- valid. Its checks cost about half a millisecond a row (parsing the cron in plpgsql,
-- walking the args' JSON, looking the zone up, each a function call with its own
-- search_path), which made a bulk INSERT of a million jobs take minutes. The WHEN
-- condition below is evaluated in the executor without calling any function; it
-- holds only for rows the function would accept unchanged, so every other row (any
-- doubt: another zone, args, a schedule beyond the plainest cron, a NULL) goes
-- through the full checks and gets their messages. On UPDATE the function always
-- runs: it also keeps updated_at, next_run and last_error true.
--
-- What "plainly valid" takes, each a subset of what the checks accept:
--   name: not blank, at most 200 characters, no control characters;
--   schedule: 5 or 6 fields (seconds first), each '*', a number within the field's
--     range (day-of-month up to 29, so that no listed month lacks it) or '*/step'
--     with a step the field allows; or one of the @ macros. Case and ranges as
--     pgsched.cron_parse reads them; tests/integration/test_job_validation_fast_path.py
--     holds the two to the same answers;
--   timezone: 'UTC';
--   target: within 65536 characters, and for python the executor's grammar (the
--     pattern of pgsched.python_target_error), for http an http(s) URL, else not blank;
--   args: '{}'; for python (keyword arguments, any object), an object of at most 500
--     bytes of JSON with at most 32 { or [ in its text, which pgsched.json_value_error
--     (v3) lets through as it stands;
--   the numbers, overlap, misfire and queue as the function checks them.
--
-- The circuit breaker check fires only for rows it refuses.
DROP TRIGGER jobs_before_write ON pgsched.jobs;
CREATE TRIGGER jobs_before_write
    BEFORE UPDATE OF name, schedule, timezone, kind, target, args, enabled,
        timeout_seconds, max_attempts, retry_delay_seconds, overlap, misfire,
        misfire_threshold_seconds, queue
    ON pgsched.jobs
    FOR EACH ROW EXECUTE FUNCTION pgsched.jobs_before_write();

CREATE TRIGGER jobs_before_insert
    BEFORE INSERT ON pgsched.jobs
    FOR EACH ROW
    WHEN (NOT coalesce(
        btrim(NEW.name) <> '' AND length(NEW.name) <= 200 AND NEW.name !~ '[[:cntrl:]]'
        AND NEW.kind IN ('python', 'shell', 'http', 'sql')
        AND NEW.schedule ~ '^[ \t]*((((\*|[0-5]?[0-9]|\*/([1-9]|[1-5][0-9]))[ \t]+)?(\*|[0-5]?[0-9]|\*/([1-9]|[1-5][0-9]))[ \t]+(\*|[01]?[0-9]|2[0-3]|\*/([1-9]|1[0-9]|2[0-3]))[ \t]+(\*|0?[1-9]|[12][0-9]|\*/([1-9]|[12][0-9]|30))[ \t]+(\*|0?[1-9]|1[0-2]|\*/([1-9]|1[01]))[ \t]+(\*|[0-7]|\*/[1-7]))|@(hourly|daily|weekly|monthly|yearly|annually|midnight))[ \t]*$'
        AND NEW.timezone = 'UTC'
        AND length(NEW.target) <= 65536
        AND CASE NEW.kind
                WHEN 'python' THEN NEW.target ~ '^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$'
                WHEN 'http' THEN NEW.target ~* '^https?://[^[:space:]/]+'
                ELSE btrim(NEW.target) <> ''
            END
        AND (NEW.args = '{}'::jsonb
             OR (NEW.kind = 'python' AND jsonb_typeof(NEW.args) = 'object'
                 AND octet_length(NEW.args::text) <= 500
                 AND length(NEW.args::text) - length(translate(NEW.args::text, '{[', '')) <= 32))
        AND NEW.timeout_seconds > 0 AND NEW.max_attempts > 0
        AND NEW.retry_delay_seconds >= 0 AND NEW.misfire_threshold_seconds >= 0
        AND NEW.overlap IN ('skip', 'allow', 'queue', 'replace')
        AND NEW.misfire IN ('run_once', 'skip', 'run_all')
        AND btrim(NEW.queue) <> '',
        false))
    EXECUTE FUNCTION pgsched.jobs_before_write();

DROP TRIGGER jobs_breaker_check ON pgsched.jobs;
CREATE TRIGGER jobs_breaker_check
    BEFORE INSERT OR UPDATE OF breaker_failures, breaker_cooldown_seconds ON pgsched.jobs
    FOR EACH ROW
    WHEN (NOT coalesce(coalesce(NEW.breaker_failures > 0, true)
                       AND NEW.breaker_cooldown_seconds > 0, false))
    EXECUTE FUNCTION pgsched.jobs_breaker_check();
