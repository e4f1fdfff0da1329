-- The queries of `pgsched demo`, one named block each ("-- name: <name>").
-- The demo's jobs are named demo-* and sit in a queue of their own, so its workers
-- run nothing else and workers serving other queues never run them. Figures count
-- the runs whose slot is at or after %(since)s, when this demo started: an earlier
-- demo's history stays in the tables but not on the screen.

-- name: demo_upsert_job
-- Running the demo again brings each job back to its definition and enables it;
-- next_run NULL lets a worker schedule it afresh, so slots passed since the last
-- demo are not owed. Columns the demo does not set go back to the table's defaults.
INSERT INTO pgsched.jobs AS j (name, schedule, kind, target, args, timeout_seconds,
                               max_attempts, retry_delay_seconds, queue, category,
                               description)
VALUES (%(name)s, %(schedule)s, %(kind)s, %(target)s, %(args)s, %(timeout_seconds)s,
        %(max_attempts)s, %(retry_delay_seconds)s, %(queue)s, 'demo', %(description)s)
ON CONFLICT (name) DO UPDATE
   SET schedule = EXCLUDED.schedule,
       timezone = DEFAULT,
       kind = EXCLUDED.kind,
       target = EXCLUDED.target,
       args = EXCLUDED.args,
       timeout_seconds = EXCLUDED.timeout_seconds,
       max_attempts = EXCLUDED.max_attempts,
       retry_delay_seconds = EXCLUDED.retry_delay_seconds,
       overlap = DEFAULT,
       misfire = DEFAULT,
       misfire_threshold_seconds = DEFAULT,
       queue = EXCLUDED.queue,
       priority = DEFAULT,
       category = EXCLUDED.category,
       description = EXCLUDED.description,
       enabled = true,
       next_run = NULL,
       checkpoint = NULL;

-- name: demo_database_now
SELECT now() AS now;

-- name: demo_job_figures
-- One row per demo job: its runs of this demo by status, and where it stands now.
SELECT j.name AS job_name, j.kind, j.enabled, j.next_run,
       h.last_run_status,
       count(r.id) FILTER (WHERE r.status = 'succeeded') AS succeeded,
       count(r.id) FILTER (WHERE r.status = 'failed') AS failed,
       count(r.id) FILTER (WHERE r.status = 'timed_out') AS timed_out,
       count(r.id) FILTER (WHERE r.status = 'lost') AS lost,
       count(r.id) FILTER (WHERE r.status IN ('skipped', 'cancelled')) AS skipped,
       count(r.id) FILTER (WHERE r.trigger = 'retry') AS retries,
       now() AS database_now
  FROM pgsched.jobs AS j
  JOIN pgsched.job_health AS h ON h.job_name = j.name
  LEFT JOIN pgsched.runs AS r ON r.job_id = j.id AND r.scheduled_for >= %(since)s
 WHERE j.name = ANY(%(names)s)
 GROUP BY j.id, h.last_run_status
 ORDER BY j.name;

-- name: demo_latest_runs
-- The newest attempts first; running ones show how long they have run so far.
SELECT r.id, r.job_name, j.kind, r.scheduled_for, r.attempt, j.max_attempts, r.trigger,
       r.status,
       coalesce(r.duration_ms,
                CASE WHEN r.status = 'running'
                     THEN extract(epoch FROM now() - r.started_at)::double precision * 1000
                END) AS duration_ms,
       r.worker_id, r.error
  FROM pgsched.recent_runs AS r
  JOIN pgsched.jobs AS j ON j.id = r.job_id
 WHERE j.name = ANY(%(names)s) AND r.scheduled_for >= %(since)s
 ORDER BY r.id DESC
 LIMIT %(limit)s;

-- name: demo_workers_alive
-- The demo's own workers, told apart from any other by host and process id.
SELECT id FROM pgsched.workers_alive WHERE host = %(host)s AND pid = ANY(%(pids)s) ORDER BY id;

-- name: demo_disable_jobs
UPDATE pgsched.jobs SET enabled = false WHERE name = ANY(%(names)s) AND enabled
RETURNING name;

-- name: demo_mark_workers_stopped
-- For workers the demo had to kill: they cannot say so themselves, and a stopped
-- worker's running attempts are what pgsched.reap_lost_runs records as lost.
UPDATE pgsched.workers SET stopped_at = now()
 WHERE host = %(host)s AND pid = ANY(%(pids)s) AND stopped_at IS NULL
RETURNING id;

-- name: demo_running_runs
SELECT count(*) AS running FROM pgsched.running_runs WHERE job_name = ANY(%(names)s);

-- name: demo_delete_runs
-- Runs outlive their job (by name), so they go first and explicitly.
DELETE FROM pgsched.runs WHERE job_name = ANY(%(names)s);

-- name: demo_delete_workers
-- Stopped workers the demo started (their ids begin with its worker name prefix);
-- live ones are left alone.
DELETE FROM pgsched.workers WHERE starts_with(id, %(prefix)s) AND stopped_at IS NOT NULL;

-- name: demo_sql_login_settings
-- The demo's sql job runs on a login of its own, which may read pgsched's views and
-- nothing else: workers refuse sql jobs on a login that can reach superuser or owns
-- pgsched, as the demo's own login may. Its name and its password (new for every
-- demo) reach the next block through transaction-local settings: a DO block takes no
-- parameters.
SELECT set_config('pgsched.demo_sql_login', %(login)s, true),
       set_config('pgsched.demo_sql_password', %(password)s, true);

-- name: demo_sql_login
DO $$
DECLARE
    login constant text := current_setting('pgsched.demo_sql_login');
    password constant text := current_setting('pgsched.demo_sql_password');
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = login) THEN
        EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEROLE PASSWORD %L',
                       login, password);
    ELSE
        EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', login, password);
    END IF;
    EXECUTE format('GRANT pgsched_reader TO %I', login);
END
$$;
