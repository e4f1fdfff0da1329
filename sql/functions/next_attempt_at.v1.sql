-- The retry rule, in one place: whether an attempt that ended with `status` gets
-- another attempt, and when. NULL means no further attempt. finish_runs (outcomes
-- a worker records), release_unstarted_runs (claims whose answer was lost) and
-- reap_lost_runs (attempts of workers that died) all ask this function.
--
--   * Only failed, timed_out and lost attempts are retried, and only when retryable
--     (pgsched.Permanent, HTTP 4xx, a missing target... are not).
--   * An attempt the job ended (it failed, timed out, or its worker died under it,
--     which the job itself may have caused) counts against max_attempts, and the
--     next one waits pgsched.retry_delay: base * 2^(n-1), capped, with jitter.
--   * An attempt pgsched itself cut short (`interrupted`: a worker shutting down
--     past its grace period, a claim whose answer never reached its worker) is not
--     the job's failure: the next attempt is available at once, and may go up to
--     two past max_attempts, so that a deploy does not cost a one-attempt job its
--     slot while a fault that repeats still cannot retry forever.
CREATE OR REPLACE FUNCTION pgsched.next_attempt_at(
    status text, attempt integer, max_attempts integer, retry_delay_seconds integer,
    retryable boolean, interrupted boolean)
RETURNS timestamptz
LANGUAGE sql VOLATILE AS $$
    SELECT CASE
               WHEN NOT retryable OR status NOT IN ('failed', 'timed_out', 'lost') THEN NULL
               WHEN interrupted THEN CASE WHEN attempt < max_attempts + 2 THEN now() END
               WHEN attempt < max_attempts
                   THEN now() + pgsched.retry_delay(retry_delay_seconds, attempt)
           END
$$;

COMMENT ON FUNCTION pgsched.next_attempt_at(text, integer, integer, integer, boolean, boolean) IS
    'The retry rule: when the attempt after one that ended with `status` becomes available, or NULL for none. Failures count against max_attempts with exponential backoff; attempts pgsched interrupted (shutdown, lost claim answer) are retried at once, up to max_attempts + 2.';
