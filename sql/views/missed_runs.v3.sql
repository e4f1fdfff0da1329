-- Slots that did not run, and why: what notices a cron job that silently stopped.
--
--   kind         what it is                                             since
--   skipped      slots recorded as skipped (overlap, superseded         recorded in the
--                retry, job disabled or deleted before it started);     last 7 days
--                consecutive slots an overlap=skip job skipped behind
--                one running attempt share one row (scheduled_for ..
--                missed_until, missed_slots of them)
--   gap          slots passed over after a misfire: one row for         recorded in the
--                scheduled_for..missed_until (missed_slots of them,     last 7 days
--                NULL past 1,000)
--   overdue      an enabled job whose next_run is later than            now
--                max(misfire_threshold_seconds, 60 s) and that no
--                worker has claimed
--   unscheduled  an enabled job still without a next_run that long      now
--                after it was last changed
--   invalid      an enabled job a worker could not plan (last_error)    now
--
-- overdue and unscheduled rows say whether any live worker serves the job's queue.
-- v2: compact skip rows (overlap=..., with missed_until) are kind 'skipped', not 'gap'.
-- v3: "now" is now() minus pgsched.replica_lag() (shown as replica_lag_seconds): on a
-- replica behind its primary, jobs whose next_run the primary has advanced are not
-- overdue, and live workers are not dead, for the lag's sake.
CREATE OR REPLACE VIEW pgsched.missed_runs AS
WITH seen AS MATERIALIZED (
    SELECT now() - pgsched.replica_lag() AS at
), served_queues AS (
    SELECT DISTINCT q.queue
      FROM pgsched.workers AS w, unnest(w.queues) AS q(queue), seen
     WHERE w.stopped_at IS NULL
       AND w.last_heartbeat_at >= seen.at - make_interval(secs => w.lease_seconds)
)
SELECT r.job_name,
       CASE WHEN r.missed_until IS NOT NULL AND r.error NOT LIKE 'overlap=%' THEN 'gap'
            ELSE 'skipped' END AS kind,
       r.scheduled_for,
       r.missed_until,
       CASE WHEN r.missed_until IS NULL THEN 1 ELSE r.missed_slots END AS missed_slots,
       r.error AS reason,
       r.id AS run_id,
       r.finished_at AS recorded_at,
       extract(epoch FROM now() - seen.at)::double precision AS replica_lag_seconds
  FROM pgsched.runs AS r, seen
 WHERE r.status = 'skipped' AND r.finished_at >= seen.at - interval '7 days'
UNION ALL
SELECT j.name,
       CASE WHEN j.next_run IS NULL THEN 'unscheduled' ELSE 'overdue' END,
       j.next_run,
       NULL,
       NULL,
       CASE
           WHEN s.queue IS NULL THEN format('no live worker serves queue %L', j.queue)
           WHEN j.next_run IS NULL THEN format('not scheduled since %s: workers serving queue %L have not reached it',
                                               j.updated_at, j.queue)
           ELSE format('due since %s and not claimed: workers serving queue %L are behind or stuck',
                       j.next_run, j.queue)
       END,
       NULL,
       now(),
       extract(epoch FROM now() - seen.at)::double precision
  FROM pgsched.jobs AS j
  CROSS JOIN seen
  LEFT JOIN served_queues AS s ON s.queue = j.queue
 WHERE j.enabled AND j.last_error IS NULL
   AND coalesce(j.next_run, j.updated_at)
       < seen.at - make_interval(secs => greatest(j.misfire_threshold_seconds, 60))
UNION ALL
SELECT j.name, 'invalid', j.next_run, NULL, NULL, j.last_error, NULL, j.updated_at,
       extract(epoch FROM now() - seen.at)::double precision
  FROM pgsched.jobs AS j, seen
 WHERE j.enabled AND j.last_error IS NOT NULL;

COMMENT ON VIEW pgsched.missed_runs IS
    'Slots that did not run and why: skipped runs (consecutive overlap skips as one row) and misfire gaps recorded in the last 7 days, and enabled jobs now overdue (next_run older than max(misfire_threshold_seconds, 60 s)), unscheduled, or invalid (last_error); "now" is now() minus replica_lag_seconds (0 on a primary).';
