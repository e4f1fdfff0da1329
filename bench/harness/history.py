"""A long run history: millions of runs of existing jobs, as 90 days of production leave.

Shared by the phases that need the database to look old (``monitoring``, ``plans``).
The jobs must exist first, named ``job-1`` .. ``job-<jobs>`` in id order. Run n
belongs to job n % jobs; 90 % succeeded, 5 % failed, 1 % each timed_out, lost and
cancelled, 2 % skipped, and the newest few running (for workers ``bench-worker-0..3``)
or pending. They are inserted with ``generate_series`` in statements of a million
rows, then vacuumed and analysed.
"""

from __future__ import annotations

from bench.harness.database import Connection, scalar

JOBS = 10_000
FULL_RUNS = 10_000_000
QUICK_RUNS = 1_000_000
RUNS_PER_STATEMENT = 1_000_000

# Run n belongs to job n % jobs; its slot is the (n / jobs)-th of the job's runs,
# evenly spaced over 90 days, offset by the job so slots do not all coincide.
FILL_RUNS = """
INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, attempt, status, trigger, queue,
                          worker_id, started_at, finished_at, duration_ms, error)
SELECT %(first_job_id)s + n %% %(jobs)s, 'job-' || (1 + n %% %(jobs)s), s.slot, 1, s.status,
       'schedule', CASE WHEN n %% 10 = 0 THEN 'reports' ELSE 'default' END,
       CASE WHEN s.status = 'running' THEN 'bench-worker-' || n %% 4 END,
       CASE WHEN s.status NOT IN ('pending', 'skipped')
            THEN s.slot + (n %% 50) * interval '1 ms' END,
       CASE WHEN s.status NOT IN ('pending', 'running')
            THEN s.slot + (n %% 50 + n %% 997) * interval '1 ms' END,
       CASE WHEN s.status NOT IN ('pending', 'running', 'skipped') THEN n %% 997 END,
       CASE WHEN s.status IN ('failed', 'timed_out', 'lost') THEN 'bench failure ' || n
            WHEN s.status = 'skipped' THEN 'overlap=skip: bench' END
  FROM generate_series(%(low)s, %(high)s) AS n
 CROSS JOIN LATERAL (
        SELECT now() - interval '90 days 3 hours' + (n %% %(jobs)s) * interval '1 second'
                     + (n / %(jobs)s) * (interval '90 days' / (%(runs)s / %(jobs)s)) AS slot,
               CASE WHEN n > %(runs)s - 200 THEN 'running'
                    WHEN n > %(runs)s - 300 THEN 'pending'
                    WHEN n %% 100 < 90 THEN 'succeeded'
                    WHEN n %% 100 < 95 THEN 'failed'
                    WHEN n %% 100 < 96 THEN 'timed_out'
                    WHEN n %% 100 < 97 THEN 'lost'
                    WHEN n %% 100 < 99 THEN 'skipped'
                    ELSE 'cancelled' END AS status) AS s
"""

REGISTER_WORKERS = """
INSERT INTO pgsched.workers (id, host, pid, concurrency)
SELECT 'bench-worker-' || n, 'bench-host', 1000 + n, 50 FROM generate_series(0, 3) AS n
"""


def fill_runs(connection: Connection, runs: int, jobs: int) -> None:
    """Insert ``runs`` runs of the ``jobs`` registered jobs, then vacuum and analyse."""
    first_job_id = scalar(connection, "SELECT min(id) FROM pgsched.jobs")
    for low in range(1, runs + 1, RUNS_PER_STATEMENT):
        high = min(low + RUNS_PER_STATEMENT - 1, runs)
        connection.execute(
            FILL_RUNS,
            {"first_job_id": first_job_id, "jobs": jobs, "runs": runs, "low": low, "high": high},
        )
    connection.execute(REGISTER_WORKERS)
    connection.execute("VACUUM ANALYZE pgsched.runs")
    connection.execute("VACUUM ANALYZE pgsched.daily_run_totals")
    connection.execute("ANALYZE pgsched.jobs")
