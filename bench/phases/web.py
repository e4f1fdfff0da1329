"""Phase ``web``: ``pgsched web`` under load, and its pages over a long history.

A scratch database gets 10,000 jobs and 10 million runs (quick: 1 million), as the
``monitoring`` phase fills it, plus 100 enabled jobs firing every second. One
``pgsched web`` process serves it on loopback.

- Throughput: authenticated ``GET /api/v1/jobs/{name}`` over 16 keep-alive
  connections for the window, no worker running: target >= 1,000 requests/s.
- Latency: the same request at 100 a second (the ~6,000 a minute a user budgets)
  for the window, sent on schedule whatever the answers, with two workers running
  the 100 jobs beside it: target p99 < 50 ms, measured from when each was due.
- Pages: the overview (7 and 30 days) and the jobs page (first page, a health
  filter) and one job's page; server time from the ``Server-Timing`` header the
  application adds, median of five after one warm-up: target < 200 ms.

The load generator (``bench.harness.load``) runs in this process, the server in
its own, both on the same 2 cores as PostgreSQL: a quiet machine matters.
"""

from __future__ import annotations

import http.client
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from bench.harness.context import BenchContext, start_workers
from bench.harness.database import Connection, connect, register_noop_jobs
from bench.harness.errors import BenchError
from bench.harness.history import FULL_RUNS, JOBS, QUICK_RUNS, fill_runs
from bench.harness.load import closed_loop, open_loop, request_bytes
from bench.harness.report import Figure, at_least, below
from bench.harness.server import scratch_database
from pgsched.catalog.tokens import create_token

PHASE = "web"
HOST = "127.0.0.1"
PORT = 18_480
THROUGHPUT_TARGET = 1_000.0
P99_TARGET_MS = 50.0
PAGE_TARGET_MS = 200.0
RATE = 100.0
CONNECTIONS = 16
FIRING_JOBS = 100
PAGE_REPEATS = 5
PROBE_JOB = "job-4242"
# The pages read as a reader a trusted proxy vouches for: no sign-in round trip.
USER_HEADER = "X-Bench-User"
PAGES = (
    ("overview", "/", True),
    ("overview_1d", "/?days=1", False),
    ("overview_30d", "/?days=30", False),
    ("jobs", "/jobs", True),
    ("jobs_failing", "/jobs?health=failing", False),
    ("job", f"/jobs/{PROBE_JOB}", False),
)
REGISTER_JOBS = """
INSERT INTO pgsched.jobs (name, schedule, kind, target, enabled)
SELECT 'job-' || n, '*/5 * * * *', 'sql', 'SELECT 1', false
  FROM generate_series(1, %(jobs)s) AS n
"""
SERVER_TIMING = re.compile(r"app;dur=([0-9.]+)")


@contextmanager
def web_server(url: str, log_path: Path) -> Iterator[None]:
    """``pgsched web`` on HOST:PORT until the block ends."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pgsched",
                "web",
                "--database-url",
                url,
                "--host",
                HOST,
                "--port",
                str(PORT),
                "--trusted-header",
                USER_HEADER,
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = http.client.HTTPConnection(HOST, PORT, timeout=2)
                connection.request("GET", "/readyz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"pgsched web did not become ready; see {log_path}")
            time.sleep(0.2)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def _server_ms(path: str) -> float:
    connection = http.client.HTTPConnection(HOST, PORT, timeout=30)
    connection.request("GET", path, headers={USER_HEADER: "bench"})
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        raise BenchError(f"GET {path} answered {response.status}")
    found = SERVER_TIMING.search(response.headers.get("Server-Timing", ""))
    if not found:
        raise BenchError(f"GET {path} has no Server-Timing header")
    return float(found.group(1))


def _page_ms(path: str) -> float:
    _server_ms(path)
    return statistics.median(_server_ms(path) for _ in range(PAGE_REPEATS))


def _token(url: str) -> str:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as connection:
        return create_token(connection, "bench", "reader").token


def _fill(connection: Connection, runs: int) -> None:
    connection.execute(REGISTER_JOBS, {"jobs": JOBS})
    fill_runs(connection, runs, JOBS)
    register_noop_jobs(connection, FIRING_JOBS, "* * * * * *")


def run(context: BenchContext) -> list[Figure]:
    """Fill the database, then load the API and time the pages."""
    runs = QUICK_RUNS if context.quick else FULL_RUNS
    scale = f"{JOBS:,} jobs, {runs // 1_000_000}M runs"
    window = context.window_seconds
    figures: list[Figure] = []
    with scratch_database(context.server_url) as url, connect(url) as connection:
        _fill(connection, runs)
        connection.execute("UPDATE pgsched.jobs SET enabled = false WHERE name LIKE 'bench-%'")
        request = request_bytes(
            HOST, PORT, f"/api/v1/jobs/{PROBE_JOB}", {"Authorization": f"Bearer {_token(url)}"}
        )
        with web_server(url, context.log_dir / "web.log"):
            for key, path, targeted in PAGES:
                elapsed = _page_ms(path)
                figures.append(
                    Figure(
                        f"web_page_{key}_ms",
                        PHASE,
                        f"page {path}, server time @ {scale}",
                        elapsed,
                        "ms",
                        f"< {PAGE_TARGET_MS:g}" if targeted else None,
                        below(elapsed, PAGE_TARGET_MS) if targeted else None,
                    )
                )
            closed_loop(HOST, PORT, request, CONNECTIONS, 2.0)  # warm-up
            loaded = closed_loop(HOST, PORT, request, CONNECTIONS, window)
            figures.append(
                Figure(
                    "web_api_get_job_per_s",
                    PHASE,
                    f"GET /api/v1/jobs/{{name}}, {CONNECTIONS} connections, one process",
                    loaded.per_second,
                    "req/s",
                    f">= {THROUGHPUT_TARGET:,.0f}",
                    at_least(loaded.per_second, THROUGHPUT_TARGET),
                )
            )
            if loaded.failed:
                context.findings.errors.append(f"{loaded.failed} API requests failed under load")
            # The fill's made-up workers never heartbeat: reap their attempts here, or
            # the real workers would each report hundreds of lost runs.
            connection.execute(
                "UPDATE pgsched.workers SET last_heartbeat_at = now() - interval '1 hour'"
                " WHERE id LIKE 'bench-worker-%'"
            )
            connection.execute("SELECT count(*) FROM pgsched.reap_lost_runs(NULL)")
            connection.execute("UPDATE pgsched.jobs SET enabled = true WHERE name LIKE 'bench-%'")
            with context.workers(url, "web") as workers:
                start_workers(connection, workers, 2, context.loaded_options())
                paced = open_loop(HOST, PORT, request, RATE, window)
                workers.check_running()
            p99 = paced.percentile_ms(0.99)
            figures += [
                Figure(
                    "web_api_p50_ms",
                    PHASE,
                    f"GET /api/v1/jobs/{{name}} p50 at {RATE:g}/s, 2 workers",
                    paced.median_ms,
                    "ms",
                ),
                Figure(
                    "web_api_p99_ms",
                    PHASE,
                    f"GET /api/v1/jobs/{{name}} p99 at {RATE:g}/s, 2 workers",
                    p99,
                    "ms",
                    f"< {P99_TARGET_MS:g}",
                    below(p99, P99_TARGET_MS),
                ),
            ]
            if paced.failed:
                context.findings.errors.append(f"{paced.failed} paced API requests failed")
    return figures
