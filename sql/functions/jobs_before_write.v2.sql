-- Validates a job row on INSERT and on UPDATE of its definition, with messages that
-- name the column, and keeps the bookkeeping columns true.
--
-- The trigger fires only for updates of definition columns: workers update next_run
-- on every claim, and re-parsing the schedule there would tax the hot path.
--
-- v2: python targets follow the python executor's grammar (pgsched.python_target_error:
-- no walking through a module's imports or dunder attributes); args are bounded in
-- size and depth (pgsched.json_value_error), so no row can stop the workers that
-- decode it. It runs with the writer's rights (a superuser's, for some writers) and
-- with a pinned search_path, so it calls nothing that anyone could put before
-- pg_catalog.
CREATE OR REPLACE FUNCTION pgsched.jobs_before_write()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    inserting constant boolean := TG_OP = 'INSERT';
    -- Keyword arguments, headers, a body: a job's args are small. Workers read them on
    -- every claim of the job.
    args_max_bytes constant integer := 65536;
    args_max_depth constant integer := 32;
    problem text;
    bad_column text;
    hint text;
BEGIN
    IF inserting OR NEW.name IS DISTINCT FROM OLD.name THEN
        IF btrim(NEW.name) = '' THEN
            bad_column := 'name'; problem := 'must not be empty';
        ELSIF length(NEW.name) > 200 THEN
            bad_column := 'name'; problem := 'is longer than 200 characters';
        ELSIF NEW.name ~ '[[:cntrl:]]' THEN
            bad_column := 'name'; problem := 'must not contain control characters (newlines, tabs)';
        END IF;
    END IF;

    IF problem IS NULL AND (inserting OR NEW.kind IS DISTINCT FROM OLD.kind)
       AND NEW.kind NOT IN ('python', 'shell', 'http', 'sql') THEN
        bad_column := 'kind';
        problem := format('%L is not one of python, shell, http, sql', NEW.kind);
    END IF;

    IF problem IS NULL AND (inserting OR NEW.schedule IS DISTINCT FROM OLD.schedule) THEN
        problem := pgsched.schedule_error(NEW.schedule);
        IF problem IS NOT NULL THEN
            bad_column := 'schedule';
            problem := format('%L: %s', NEW.schedule, problem);
            hint := 'Use 5-field cron (*/5 * * * *), 6-field cron with seconds first, '
                    '@hourly, @daily, @weekly, @monthly, @yearly or @every 30s|5m|2h|1d.';
        END IF;
    END IF;

    IF problem IS NULL AND (inserting OR NEW.timezone IS DISTINCT FROM OLD.timezone) THEN
        problem := pgsched.timezone_error(NEW.timezone);
        IF problem IS NOT NULL THEN
            bad_column := 'timezone';
            hint := 'SELECT name FROM pg_timezone_names lists the zones.';
        END IF;
    END IF;

    IF problem IS NULL AND (inserting OR NEW.target IS DISTINCT FROM OLD.target
                            OR NEW.kind IS DISTINCT FROM OLD.kind) THEN
        bad_column := 'target';
        IF btrim(NEW.target) = '' THEN
            problem := 'must not be empty';
        ELSIF length(NEW.target) > 65536 THEN
            problem := 'is longer than 65536 characters';
        ELSIF NEW.kind = 'python' AND pgsched.python_target_error(NEW.target) IS NOT NULL THEN
            problem := pgsched.python_target_error(NEW.target);
        ELSIF NEW.kind = 'http' AND NEW.target !~* '^https?://[^[:space:]/]+' THEN
            problem := format('%L is not an http:// or https:// URL', NEW.target);
        ELSE
            bad_column := NULL;
        END IF;
    END IF;

    IF problem IS NULL AND (inserting OR NEW.args IS DISTINCT FROM OLD.args
                            OR NEW.kind IS DISTINCT FROM OLD.kind) THEN
        problem := coalesce(pgsched.json_value_error(NEW.args, args_max_depth, args_max_bytes),
                            pgsched.job_args_error(NEW.kind, NEW.args));
        IF problem IS NOT NULL THEN
            bad_column := 'args';
        END IF;
    END IF;

    IF problem IS NULL THEN
        bad_column := CASE
            WHEN NEW.timeout_seconds <= 0 THEN 'timeout_seconds'
            WHEN NEW.max_attempts <= 0 THEN 'max_attempts'
            WHEN NEW.retry_delay_seconds < 0 THEN 'retry_delay_seconds'
            WHEN NEW.misfire_threshold_seconds < 0 THEN 'misfire_threshold_seconds'
        END;
        IF bad_column IS NOT NULL THEN
            problem := format('%s must be %s',
                              CASE bad_column
                                  WHEN 'timeout_seconds' THEN NEW.timeout_seconds
                                  WHEN 'max_attempts' THEN NEW.max_attempts
                                  WHEN 'retry_delay_seconds' THEN NEW.retry_delay_seconds
                                  ELSE NEW.misfire_threshold_seconds
                              END,
                              CASE WHEN bad_column IN ('timeout_seconds', 'max_attempts')
                                   THEN 'positive' ELSE 'zero or more' END);
        END IF;
    END IF;

    IF problem IS NULL AND NEW.overlap NOT IN ('skip', 'allow', 'queue', 'replace') THEN
        bad_column := 'overlap';
        problem := format('%L is not one of skip, allow, queue, replace', NEW.overlap);
    END IF;

    IF problem IS NULL AND NEW.misfire NOT IN ('run_once', 'skip', 'run_all') THEN
        bad_column := 'misfire';
        problem := format('%L is not one of run_once, skip, run_all', NEW.misfire);
    END IF;

    IF problem IS NULL AND btrim(NEW.queue) = '' THEN
        bad_column := 'queue';
        problem := 'must not be empty';
    END IF;

    IF problem IS NOT NULL AND hint IS NOT NULL THEN
        RAISE EXCEPTION 'pgsched.jobs.%: %', bad_column, problem
            USING ERRCODE = 'check_violation', SCHEMA = 'pgsched', TABLE = 'jobs',
                  COLUMN = bad_column, HINT = hint;
    ELSIF problem IS NOT NULL THEN
        RAISE EXCEPTION 'pgsched.jobs.%: %', bad_column, problem
            USING ERRCODE = 'check_violation', SCHEMA = 'pgsched', TABLE = 'jobs',
                  COLUMN = bad_column;
    END IF;

    IF NOT inserting THEN
        NEW.updated_at := now();
        -- A changed definition invalidates what was computed from the old one; a
        -- worker fills next_run in again from the database clock.
        IF NEW.next_run IS NOT DISTINCT FROM OLD.next_run
           AND (NEW.schedule IS DISTINCT FROM OLD.schedule
                OR NEW.timezone IS DISTINCT FROM OLD.timezone
                OR (NEW.enabled AND NOT OLD.enabled)) THEN
            NEW.next_run := NULL;
        END IF;
        IF NEW.last_error IS NOT DISTINCT FROM OLD.last_error THEN
            NEW.last_error := NULL;
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION pgsched.jobs_before_write() IS
    'Refuses invalid job rows with a message naming the column; resets next_run and last_error when the definition changes.';
