-- The wait before attempt n+1 after attempt n failed: retry_delay_seconds * 2^(n-1),
-- capped at an hour, with "equal jitter" (a random point in the upper half) so the
-- retries of many jobs that failed together do not hammer a dependency in step.
CREATE OR REPLACE FUNCTION pgsched.retry_delay(base_seconds integer, failed_attempt integer)
RETURNS interval
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT make_interval(secs => least(3600.0, base_seconds * power(2.0, least(failed_attempt - 1, 30)))
                                 * (0.5 + random() / 2))
$$;

COMMENT ON FUNCTION pgsched.retry_delay(integer, integer) IS
    'Backoff before the next attempt: base * 2^(attempt-1), capped at 3600 s, with jitter in its upper half.';
