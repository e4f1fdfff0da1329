"""``pgsched web --read-database-url`` on a real streaming standby (built here with
PostgreSQL's own programs, as in test_failover.py), its replay paused until its lag
passes a worker's lease.

By the standby's own clock the worker is then dead; the dashboard and the API judge
it, its running attempt and the overdue job's queue as of now() minus the lag, so the
worker stays alive, and every page and response that judges liveness says how far
behind it reads. Caught up, the standby's pages still say that they read a replica.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from bench.harness.replication import Cluster
from pgsched.db import migrations
from tests.acceptance.conftest import scalar, wait_for
from tests.commands import add_job
from tests.web import bearer, liveness_rows, new_token, sign_in, web_client

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]

LEASE_SECONDS = 2
LIVENESS_PAGES = ("/", "/workers", "/missed")
NOTE = re.compile(r'data-replica-lag-seconds="([0-9.]+)"')


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A primary holding a worker (lease 2 s) running an attempt, and a job overdue."""
    with Cluster() as built:
        migrations.upgrade(built.primary.url())
        with psycopg.connect(built.primary.url(), autocommit=True) as primary:
            job_id = add_job(primary, "stalled")
            primary.execute(
                "UPDATE pgsched.jobs SET next_run = now() - interval '5 minutes' WHERE id = %s",
                [job_id],
            )
            primary.execute(
                "INSERT INTO pgsched.workers (id, host, pid, queues, concurrency, lease_seconds)"
                " VALUES ('w1', 'h', 1, '{default}', 4, %s)",
                [LEASE_SECONDS],
            )
            primary.execute(
                "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, worker_id,"
                " claimed_at, started_at)"
                " VALUES (%s, 'stalled', now(), 'running', 'w1', now(), now())",
                [job_id],
            )
        yield built


@pytest.fixture(scope="module")
def admin(cluster: Cluster) -> str:
    return new_token(cluster.primary.url(), "admin", "ops")


@pytest.fixture
def standby(cluster: Cluster) -> Iterator[Connection]:
    with psycopg.connect(cluster.standby.url(), autocommit=True) as connection:
        yield connection


@pytest.fixture
def client(cluster: Cluster, admin: str) -> Iterator[TestClient]:
    """The dashboard reading the standby; sign-in and tokens stay on the primary."""
    with web_client(cluster.primary.url(), read_database_url=cluster.standby.url()) as client:
        sign_in(client, admin)
        yield client


def lag_seconds(standby: Connection) -> float:
    return float(scalar(standby, "SELECT extract(epoch FROM pgsched.replica_lag())"))


def shown_lags(client: TestClient) -> dict[str, list[float]]:
    """The lag each liveness page's note says (none: no note)."""
    return {
        path: [float(n) for n in NOTE.findall(client.get(path).text)] for path in LIVENESS_PAGES
    }


@pytest.fixture
def lagging(cluster: Cluster, standby: Connection) -> Iterator[None]:
    """The standby's replay paused past the lease, while the worker heartbeats."""
    with psycopg.connect(cluster.primary.url(), autocommit=True) as primary:
        primary.execute("UPDATE pgsched.workers SET last_heartbeat_at = now()")
        cluster.wait_until_replayed()
        standby.execute("SELECT pg_wal_replay_pause()")
        # WAL received and not replayed: what makes the lag grow.
        primary.execute("UPDATE pgsched.workers SET last_heartbeat_at = now()")
        wait_for(lambda: lag_seconds(standby) > LEASE_SECONDS + 1, what="the lag to pass the lease")
        try:
            yield
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")
            cluster.wait_until_replayed()


def test_a_lagging_replica_shows_live_workers_alive_and_says_how_far_behind_it_reads(
    lagging: None, client: TestClient, standby: Connection, admin: str
) -> None:
    # What a lease judged by the standby's own clock says: the worker is dead.
    naive = scalar(
        standby,
        "SELECT count(*) FROM pgsched.workers"
        " WHERE last_heartbeat_at >= now() - make_interval(secs => lease_seconds)",
    )
    assert naive == 0
    rows = liveness_rows(client, bearer(admin))
    lags = {path: [row["replica_lag_seconds"] for row in found] for path, found in rows.items()}
    assert all(found and min(found) > LEASE_SECONDS for found in lags.values()), lags
    assert [(w["id"], w["state"]) for w in rows["/api/v1/workers?all=true"]] == [("w1", "alive")]
    assert [w["id"] for w in rows["/api/v1/workers"]] == ["w1"]
    assert [r["worker_alive"] for r in rows["/api/v1/runs/running"]] == [True]
    summary = rows["/api/v1/summary"][0]
    assert (summary["live_workers"], summary["running_runs"], summary["stalled_jobs"]) == (1, 1, 1)
    [missed] = rows["/api/v1/runs/missed"]
    assert missed["kind"] == "overdue"
    assert "workers serving queue 'default' are behind or stuck" in missed["reason"]

    shown = shown_lags(client)
    assert all(len(found) == 1 and found[0] > LEASE_SECONDS for found in shown.values()), shown
    workers_page = client.get("/workers").text
    assert "behind the primary" in workers_page and "w-alive" in workers_page
    assert "w-dead" not in workers_page
    assert "silent" not in client.get("/").text


def test_a_caught_up_replica_still_says_its_pages_read_a_replica(
    cluster: Cluster, client: TestClient, admin: str
) -> None:
    cluster.wait_until_replayed()
    rows = liveness_rows(client, bearer(admin))
    assert rows["/api/v1/summary"][0]["replica_lag_seconds"] == 0.0
    assert shown_lags(client) == {path: [0.0] for path in LIVENESS_PAGES}
