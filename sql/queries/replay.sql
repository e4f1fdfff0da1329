-- The queries of replay (`pgsched runs retry`), one named block each ("-- name: <name>").

-- name: retry_run
SELECT pgsched.retry_run(%(run_id)s) AS run_id;

-- name: replayed_run
-- Called in retry_run's transaction: created_at is now() exactly when retry_run
-- inserted the attempt, and earlier when it answered one already pending or running.
SELECT r.id, r.job_name, r.scheduled_for, r.attempt, r.status, r.created_at = now() AS queued
  FROM pgsched.runs AS r
 WHERE r.id = %(run_id)s;

-- name: failed_slots_since
-- Slots whose last attempt failed, timed out or was lost since then: the dead letters a
-- bulk replay takes. A slot with a later attempt (a retry or replay pending, running or
-- done) is not one. A relative
-- --failed-since counts back from the database clock.
SELECT r.id, r.job_name, r.scheduled_for, r.attempt, r.status
  FROM pgsched.runs AS r
 WHERE r.status IN ('failed', 'timed_out', 'lost')
   AND r.finished_at >= coalesce(%(since_at)s::timestamptz,
                                 now() - make_interval(secs => %(since_seconds)s::integer))
   AND (%(job)s::text IS NULL OR r.job_name = %(job)s::text)
   AND r.job_id IS NOT NULL
   -- A scalar subquery, not NOT EXISTS: it stays one probe of the unique key per
   -- failure, where an anti-join would read the whole history.
   AND (SELECT max(later.attempt) FROM pgsched.runs AS later
         WHERE later.job_id = r.job_id AND later.scheduled_for = r.scheduled_for) = r.attempt
 ORDER BY r.finished_at, r.id
 LIMIT %(limit)s;
