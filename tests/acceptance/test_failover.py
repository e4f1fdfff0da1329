"""A primary and a streaming standby built here with PostgreSQL's own programs.

First the standby serves reads: with its replay paused past the workers' lease, the
views and ``pgsched workers --read-database-url`` still show the live workers alive,
and say how far behind they read. Then the failover: workers given a multi-host URL
(``target_session_attrs=read-write``) run every-second jobs, the standby is promoted
and the old primary stopped at once (as if it crashed), and the new primary's rows
are audited: every slot once (or recorded), nothing left running, no job that cannot
fail recorded failed, and both workers still at work on the new primary.

Replication is asynchronous: what the old primary committed and had not yet sent is
lost with it. A slot whose claim was lost fires again on the new primary (the audit
counts it once, its own record); the worker logs show it ran twice, and the test
prints how many did (docs/operations.md explains it, and what synchronous
replication changes). The test does not depend on the server at 127.0.0.1:5432.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from bench.chaos.audit import Window, check_first_attempts, check_nothing_left
from bench.harness.replication import Cluster
from pgsched.db import migrations
from tests.acceptance.conftest import add_job, running_workers, scalar, wait_for
from tests.commands import as_json, invoke

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]

LEASE_SECONDS = 3
JOBS = 4
WORKER_OPTIONS = ("--allow-sql", "--sql-allow-superuser", "--grace-period", "5")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with Cluster() as built:
        migrations.upgrade(built.primary.url())
        built.wait_until_replayed()  # the standby is read from the start
        yield built


def connect(url: str) -> Connection:
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def rows(db: Connection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    with db.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(sql, params).fetchall()


def lag_seconds(standby: Connection) -> float:
    return float(scalar(standby, "SELECT extract(epoch FROM pgsched.replica_lag())"))


def read_on_a_lagging_replica(cluster: Cluster, standby: Connection) -> None:
    """With replay paused past the lease, the standby still shows the workers alive."""
    wait_for(
        lambda: scalar(standby, "SELECT count(*) FROM pgsched.workers_alive") == 2,
        what="the standby to see both workers",
    )
    standby.execute("SELECT pg_wal_replay_pause()")
    wait_for(lambda: lag_seconds(standby) > LEASE_SECONDS + 1, what="the lag to pass the lease")
    # What a lease judged by the standby's own clock says: both dead.
    naive = scalar(
        standby,
        "SELECT count(*) FROM pgsched.workers WHERE stopped_at IS NULL"
        " AND last_heartbeat_at >= now() - make_interval(secs => lease_seconds)",
    )
    alive = rows(standby, "SELECT id, replica_lag_seconds FROM pgsched.workers_alive")
    assert naive == 0
    assert len(alive) == 2 and all(row["replica_lag_seconds"] > LEASE_SECONDS for row in alive)
    assert scalar(standby, "SELECT bool_and(worker_alive) FROM pgsched.running_runs") in (
        True,
        None,
    )
    assert scalar(standby, "SELECT pgsched.worker_demand()") >= 0
    shown = invoke(cluster.primary.url(), "workers", "--read-database-url", cluster.standby.url())
    assert shown.exit_code == 0, shown.output
    assert all(row["id"] in shown.output for row in alive)
    assert "read on a replica" in shown.output
    checks = as_json(
        invoke(
            cluster.primary.url(), "doctor", "--json", "--read-database-url", cluster.standby.url()
        )
    )
    replica = next(check for check in checks if check["check"] == "replica")
    assert "behind its primary" in replica["detail"], replica
    standby.execute("SELECT pg_wal_replay_resume()")
    wait_for(lambda: lag_seconds(standby) == 0, what="the standby to catch up")


def test_workers_survive_the_promotion_of_a_streaming_standby(
    cluster: Cluster, tmp_path: Path
) -> None:
    with connect(cluster.primary.url()) as primary:
        for n in range(JOBS):
            add_job(primary, f"py-{n}", "tests.acceptance.jobs:noop")
            add_job(primary, f"sql-{n}", "SELECT 1", kind="sql")
    standby = connect(cluster.standby.url())
    with running_workers(cluster.failover_url(), tmp_path) as workers:
        for _ in range(2):
            workers.start(*WORKER_OPTIONS, lease_seconds=LEASE_SECONDS)
        read_on_a_lagging_replica(cluster, standby)

        window_start = scalar(standby, "SELECT date_trunc('second', now()) + interval '2 seconds'")
        time.sleep(4)
        cluster.promote(cluster.standby)
        cluster.stop(cluster.primary, "immediate")
        promoted_at = scalar(standby, "SELECT now()")
        time.sleep(8)
        running = [process.poll() is None for process in workers.processes]
        window_end = scalar(standby, "SELECT date_trunc('second', now()) - interval '2 seconds'")
        standby.execute("UPDATE pgsched.jobs SET enabled = false")
        wait_for(
            lambda: (
                scalar(standby, "SELECT count(*) FROM pgsched.runs WHERE status = 'running'") == 0
            ),
            timeout=LEASE_SECONDS * 5,
            what="running attempts to end or be recovered",
        )
        codes = workers.stop_all()
    logs = workers.logs()
    assert running == [True, True] and codes == [0, 0], logs[-3000:]

    jobs = rows(standby, "SELECT id, name, schedule, timezone FROM pgsched.jobs")
    runs = rows(standby, "SELECT * FROM pgsched.runs")
    slots = check_first_attempts(jobs, runs, Window(window_start, window_end))
    assert slots.ok, slots.violations
    left = check_nothing_left(runs, scalar(standby, "SELECT now()"))
    assert left.ok, left.violations
    # An sql statement running when the old primary went down failed with it; nothing
    # started on the new primary may fail.
    failed = [
        (r["job_name"], r["started_at"], r["error"])
        for r in runs
        if r["status"] == "failed"
        and not (r["started_at"] < promoted_at and "connection" in (r["error"] or ""))
    ]
    assert failed == []
    # Both workers came back on the new primary: each heartbeat or attempt written
    # there after the promotion proves it. Attempts alone do not: one worker's claims
    # may take every due slot of a round.
    after = {r["worker_id"] for r in runs if r["started_at"] and r["started_at"] > promoted_at}
    after |= {
        w["id"]
        for w in rows(
            standby, "SELECT id FROM pgsched.workers WHERE last_heartbeat_at > %s", [promoted_at]
        )
    }
    assert len(after) == 2, "both workers wrote to the new primary"

    print(failover_figures(runs, logs, slots.checked, window_start, window_end, promoted_at))
    standby.close()


def failover_figures(
    runs: list[dict[str, Any]],
    logs: str,
    audited: int,
    window_start: datetime,
    window_end: datetime,
    promoted_at: datetime,
) -> str:
    """The audit's figures: slots, the gap around the promotion, what was lost."""
    firsts = [r for r in runs if r["attempt"] == 1 and r["started_at"] is not None]
    around = [
        (r["started_at"] - r["scheduled_for"]).total_seconds()
        for r in firsts
        if window_start <= r["scheduled_for"] <= window_end
    ]
    started: dict[tuple[str, str], set[int]] = defaultdict(set)
    for line in logs.splitlines():
        if line.startswith("{") and '"run_started"' in line:
            event = json.loads(line)
            if event["attempt"] == 1:
                started[(event["job_name"], event["scheduled_for"])].add(event["run_id"])
    twice = sum(1 for ids in started.values() if len(ids) > 1)
    by_status: dict[str, int] = defaultdict(int)
    for run in runs:
        by_status[run["status"]] += 1
    return (
        f"\nfailover audit: {audited} slots, each once (or recorded); runs by status "
        f"{dict(sorted(by_status.items()))}; slowest start {max(around):.2f} s after its slot; "
        f"{twice} slots ran twice (claimed on the old primary, lost with it); "
        f"promoted at {promoted_at:%H:%M:%S.%f}"
    )
