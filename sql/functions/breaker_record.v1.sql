-- Moves jobs' circuit breakers on the final outcomes of their slots, in the
-- transaction that records those outcomes (finish_runs, release_unstarted_runs,
-- reap_lost_runs call it). Returns one row per transition it made.
--
-- A slot's outcome is final when its attempt ended and pgsched.next_attempt_at
-- granted no further attempt: exactly when failure hooks are told. The caller passes
-- only those, of jobs with breaker_failures set, as a JSON array of
-- {run_id, job_id, scheduled_for, failed, manual}. Per job, in the order given:
--
--   success                 closes the breaker (from any state) and clears the count
--   failure, closed         counts; the breaker_failures-th failure in a row opens it
--                           until now() + breaker_cooldown_seconds
--   failure, half-open      of the probe slot (or of a manual run): opens it again
--   failure, open           of a manual run: opens it again (a fresh cool-down); of a
--                           slot that began before the breaker opened: counted only
--
-- No row in pgsched.job_breakers means closed with no failure counted: a success of a
-- job whose breaker has nothing to clear writes nothing. The row lock taken here
-- comes after the run rows the caller updated, the same order as a claim (job row,
-- runs, then its breaker): callers cannot deadlock with claims.
CREATE OR REPLACE FUNCTION pgsched.breaker_record(outcomes jsonb)
RETURNS TABLE (run_id bigint, job_id bigint, job_name text, queue text, transition text,
               failed_slots integer, open_until timestamptz)
LANGUAGE plpgsql VOLATILE ROWS 1
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    o record;
    job record;
    b pgsched.job_breakers;
BEGIN
    FOR o IN SELECT x.* FROM jsonb_to_recordset(outcomes)
                    AS x(run_id bigint, job_id bigint, scheduled_for timestamptz,
                         failed boolean, manual boolean)
              ORDER BY x.job_id, x.run_id LOOP
        SELECT j.name, j.queue, j.breaker_failures, j.breaker_cooldown_seconds INTO job
          FROM pgsched.jobs AS j WHERE j.id = o.job_id;
        CONTINUE WHEN NOT FOUND OR job.breaker_failures IS NULL;
        IF NOT o.failed THEN
            DELETE FROM pgsched.job_breakers AS k WHERE k.job_id = o.job_id RETURNING k.* INTO b;
            IF FOUND AND b.state <> 'closed' THEN
                RETURN QUERY SELECT o.run_id, o.job_id, job.name, job.queue, 'closed'::text,
                                    0, NULL::timestamptz;
            END IF;
            CONTINUE;
        END IF;
        INSERT INTO pgsched.job_breakers AS k (job_id, state, failed_slots, changed_at)
        VALUES (o.job_id, 'closed', 1, now())
        ON CONFLICT (job_id) DO UPDATE SET failed_slots = k.failed_slots + 1
        RETURNING k.* INTO b;
        IF (b.state = 'closed' AND b.failed_slots >= job.breaker_failures)
           OR (b.state = 'half_open' AND (o.manual OR o.scheduled_for = b.probe_slot))
           OR (b.state = 'open' AND o.manual) THEN
            UPDATE pgsched.job_breakers AS k
               SET state = 'open', opened_at = now(), probe_slot = NULL, changed_at = now(),
                   open_until = now() + make_interval(secs => job.breaker_cooldown_seconds)
             WHERE k.job_id = o.job_id
            RETURNING k.* INTO b;
            RETURN QUERY SELECT o.run_id, o.job_id, job.name, job.queue, 'open'::text,
                                b.failed_slots, b.open_until;
        END IF;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION pgsched.breaker_record(jsonb) IS
    'Moves circuit breakers on final slot outcomes ({run_id, job_id, scheduled_for, failed, manual}): a success closes, breaker_failures failures in a row open, a failed probe re-opens. Returns the transitions.';
