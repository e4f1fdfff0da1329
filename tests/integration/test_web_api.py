"""The HTTP API of `pgsched web`, in-process on a real database: documents, filters,
pagination, the database's refusals as problem+json, idempotent runs."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.commands import add_job
from tests.conftest import scratch_database
from tests.web import LIVENESS_RESPONSES, bearer, liveness_rows, new_token, web_client

PROBLEM = "application/problem+json"
# An object (as args must be) nesting deeper than Python's decoder follows.
DEEP_ARGS = '{"a": ' + "[" * 3000 + "]" * 3000 + "}"


@pytest.fixture
def admin(database_url: str) -> dict[str, str]:
    return bearer(new_token(database_url, "admin", "ci-deploy"))


@pytest.fixture
def reader(database_url: str) -> dict[str, str]:
    return bearer(new_token(database_url, "reader", "grafana"))


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with web_client(database_url) as client:
        yield client


def test_a_job_is_created_read_changed_and_removed(
    client: TestClient, admin: dict[str, str]
) -> None:
    created = client.post(
        "/api/v1/jobs",
        headers=admin,
        json={
            "name": "nightly",
            "schedule": "0 3 * * *",
            "kind": "shell",
            "target": "true",
            "timezone": "Europe/Berlin",
            "max_attempts": 3,
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"].endswith("/api/v1/jobs/nightly")
    job = created.json()
    assert (job["schedule_in_words"], job["timeout_seconds"], job["enabled"]) == (
        "at 03:00 every day",
        300,
        True,
    )
    patched = client.patch("/api/v1/jobs/nightly", headers=admin, json={"timeout_seconds": 60})
    assert patched.json()["timeout_seconds"] == 60
    assert patched.json()["max_attempts"] == 3
    replaced = client.put(
        "/api/v1/jobs/nightly",
        headers=admin,
        json={"name": "nightly", "schedule": "@hourly", "kind": "shell", "target": "true"},
    )
    assert (replaced.json()["max_attempts"], replaced.json()["timezone"]) == (1, "UTC")
    fanned = client.patch("/api/v1/jobs/nightly", headers=admin, json={"shards": 4})
    assert fanned.json()["shards"] == 4
    assert client.delete("/api/v1/jobs/nightly", headers=admin).status_code == 204
    assert client.get("/api/v1/jobs/nightly", headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("schedule", "61 * * * *", "minute field: 61 is out of range"),
        ("timezone", "Mars/Olympus_Mons", "unknown time zone"),
        ("timeout_seconds", 0, "timeout_seconds"),
        ("kind", "cobol", "kind"),
        ("shards", 1001, "shards"),
    ],
)
def test_a_value_the_database_refuses_is_a_422_naming_the_column(
    client: TestClient, admin: dict[str, str], field: str, value: object, message: str
) -> None:
    body = {"name": "bad", "schedule": "@daily", "kind": "shell", "target": "true", field: value}
    response = client.post("/api/v1/jobs", headers=admin, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["column"] == field
    assert message in problem["detail"]
    assert client.get("/api/v1/jobs/bad", headers=admin).status_code == 404


def test_a_patch_the_database_refuses_changes_nothing(
    client: TestClient, admin: dict[str, str], db: psycopg.Connection
) -> None:
    add_job(db, "steady", "*/5 * * * *")
    refused = client.patch("/api/v1/jobs/steady", headers=admin, json={"schedule": "0 0 30 2 *"})
    assert refused.status_code == 422 and refused.json()["column"] == "schedule"
    assert client.get("/api/v1/jobs/steady", headers=admin).json()["schedule"] == "*/5 * * * *"


def test_malformed_requests_are_problems_too(client: TestClient, admin: dict[str, str]) -> None:
    unknown_field = client.post(
        "/api/v1/jobs",
        headers=admin,
        json={"name": "x", "schedule": "@daily", "kind": "shell", "target": "true", "colour": 1},
    )
    assert unknown_field.status_code == 422
    assert unknown_field.headers["content-type"] == PROBLEM
    assert "colour" in unknown_field.json()["detail"]
    duplicate = {"name": "twice", "schedule": "@daily", "kind": "shell", "target": "true"}
    assert client.post("/api/v1/jobs", headers=admin, json=duplicate).status_code == 201
    again = client.post("/api/v1/jobs", headers=admin, json=duplicate)
    assert again.status_code == 422 and "already exists" in again.json()["detail"]


def test_a_job_row_python_cannot_read_fails_no_request_but_its_own(
    client: TestClient, admin: dict[str, str], db: psycopg.Connection
) -> None:
    # Written past the bounds (before them, or with triggers off): 1e5000 is printed
    # as 5,001 digits, more than Python reads back; a depth of 3,000 beats its decoder.
    add_job(db, "healthy")
    with db.transaction():
        db.execute("SET LOCAL session_replication_role = replica")
        for name, args in (("long", '{"n": 1e5000}'), ("deep", DEEP_ARGS)):
            db.execute(
                "INSERT INTO pgsched.jobs (name, schedule, kind, target, args)"
                " VALUES (%s, '@daily', 'python', 'app.jobs:run', %s::jsonb)",
                [name, args],
            )
    listed = client.get("/api/v1/jobs", headers=admin)
    assert listed.status_code == 200, listed.text
    assert {job["name"] for job in listed.json()["items"]} == {"healthy", "long", "deep"}
    for name, why in (("long", "that Python cannot read"), ("deep", "nested too deeply")):
        shown = client.get(f"/api/v1/jobs/{name}", headers=admin)
        assert shown.status_code == 200, shown.text
        assert why in shown.json()["args"], shown.json()["args"]


def test_jobs_are_filtered_and_paged_by_cursor(
    client: TestClient, reader: dict[str, str], db: psycopg.Connection
) -> None:
    for number in range(5):
        add_job(db, f"report-{number}", queue="reports")
    add_job(db, "cleanup", enabled=False)
    first = client.get("/api/v1/jobs?queue=reports&limit=2", headers=reader).json()
    assert [job["name"] for job in first["items"]] == ["report-0", "report-1"]
    second = client.get(
        f"/api/v1/jobs?queue=reports&limit=2&cursor={first['next_cursor']}", headers=reader
    ).json()
    assert [job["name"] for job in second["items"]] == ["report-2", "report-3"]
    paused = client.get("/api/v1/jobs?enabled=false", headers=reader).json()
    assert [job["name"] for job in paused["items"]] == ["cleanup"]
    assert paused["next_cursor"] is None
    assert client.get("/api/v1/jobs?health=sickly", headers=reader).status_code == 422
    found = client.get("/api/v1/jobs?search=PORT-4", headers=reader).json()
    assert [job["name"] for job in found["items"]] == ["report-4"]


def test_enable_disable_and_toggle(
    client: TestClient, admin: dict[str, str], db: psycopg.Connection
) -> None:
    add_job(db, "flip")
    assert client.post("/api/v1/jobs/flip/disable", headers=admin).json()["enabled"] is False
    assert client.post("/api/v1/jobs/flip/toggle", headers=admin).json()["enabled"] is True
    assert client.post("/api/v1/jobs/flip/toggle", headers=admin).json()["enabled"] is False
    assert client.post("/api/v1/jobs/flip/enable", headers=admin).json()["enabled"] is True
    assert client.post("/api/v1/jobs/nope/enable", headers=admin).status_code == 404


def test_run_is_accepted_with_its_run_id_and_an_idempotency_key_gives_the_same_run(
    client: TestClient, admin: dict[str, str], db: psycopg.Connection
) -> None:
    add_job(db, "adhoc")
    plain = client.post("/api/v1/jobs/adhoc/run", headers=admin)
    assert plain.status_code == 202
    keyed = {**admin, "Idempotency-Key": "deploy-42"}
    first = client.post("/api/v1/jobs/adhoc/run", headers=keyed).json()
    again = client.post("/api/v1/jobs/adhoc/run", headers=keyed).json()
    assert again == {**first, "replayed": True}
    assert first["replayed"] is False and first["run_id"] != plain.json()["run_id"]
    runs = db.execute("SELECT count(*) FROM pgsched.runs WHERE trigger = 'manual'").fetchone()
    assert runs == (2,)
    add_job(db, "other")
    reused = client.post("/api/v1/jobs/other/run", headers=keyed)
    assert reused.status_code == 422 and "was used for job 'adhoc'" in reused.json()["detail"]


def test_runs_are_filtered_and_paged_newest_first(
    client: TestClient, reader: dict[str, str], db: psycopg.Connection
) -> None:
    job_id = add_job(db, "busy")
    for minutes, status in enumerate(["succeeded", "failed", "succeeded", "failed", "skipped"]):
        db.execute(
            "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, error, finished_at)"
            " VALUES (%s, 'busy', now() - make_interval(mins => %s), %s, %s, now())",
            [job_id, 10 - minutes, status, "boom" if status == "failed" else None],
        )
    page = client.get("/api/v1/runs?job=busy&limit=3", headers=reader).json()
    assert [run["status"] for run in page["items"]] == ["skipped", "failed", "succeeded"]
    rest = client.get(f"/api/v1/runs?job=busy&cursor={page['next_cursor']}", headers=reader)
    assert [run["status"] for run in rest.json()["items"]] == ["failed", "succeeded"]
    failed = client.get("/api/v1/jobs/busy/runs?status=failed", headers=reader).json()
    assert [run["error"] for run in failed["items"]] == ["boom", "boom"]
    one = client.get(f"/api/v1/runs/{failed['items'][0]['id']}", headers=reader).json()
    assert one["output"] is None and one["error"] == "boom"
    assert client.get("/api/v1/runs/999999", headers=reader).status_code == 404
    assert len(client.get("/api/v1/runs/failed", headers=reader).json()) == 2
    missed = client.get("/api/v1/runs/missed?job=busy", headers=reader).json()
    assert [row["kind"] for row in missed] == ["skipped"]
    unknown = client.get("/api/v1/runs?job=nobody", headers=reader)
    assert unknown.status_code == 404
    odd = client.get("/api/v1/runs?status=exploded", headers=reader)
    assert odd.status_code == 422 and "status must be one of" in odd.json()["detail"]


def test_a_jobs_figures_timeline_preview_and_slots(
    client: TestClient, reader: dict[str, str], db: psycopg.Connection
) -> None:
    job_id = add_job(db, "berlin", "30 2 * * *", timezone="Europe/Berlin")
    db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, started_at,"
        " finished_at, duration_ms) VALUES (%s, 'berlin', now() - interval '1 day',"
        " 'succeeded', now() - interval '1 day', now() - interval '1 day', 1200)",
        [job_id],
    )
    stats = client.get("/api/v1/jobs/berlin/stats?days=7", headers=reader).json()
    assert (stats["total_runs"], stats["success_rate"]) == (1, 100.0)
    assert len(client.get("/api/v1/jobs/berlin/timeline?hours=48", headers=reader).json()) == 48
    preview = client.get("/api/v1/jobs/berlin/preview?count=3", headers=reader).json()
    assert [fire["local_time"][11:16] for fire in preview] == ["02:30"] * 3


def test_slots_nobody_recorded_since_the_last_run_show_as_missed(
    client: TestClient, reader: dict[str, str], db: psycopg.Connection
) -> None:
    job_id = add_job(db, "hourly", "@every 1h")
    db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, finished_at)"
        " VALUES (%s, 'hourly', date_trunc('hour', now()) - interval '3 hours', 'succeeded',"
        " now())",
        [job_id],
    )
    slots = client.get("/api/v1/jobs/hourly/slots", headers=reader).json()
    assert slots[-1]["status"] == "succeeded"
    missed = [slot for slot in slots if slot["status"] == "missed"]
    # The slots 2 and 1 hours ago; the one of this hour only once it is a minute late.
    assert 2 <= len(missed) == len(slots) - 1
    assert all(slot["scheduled_for"] > slots[-1]["scheduled_for"] for slot in missed)
    db.execute("UPDATE pgsched.jobs SET enabled = false WHERE id = %s", [job_id])
    paused = client.get("/api/v1/jobs/hourly/slots", headers=reader).json()
    assert [slot["status"] for slot in paused] == ["succeeded"]


def test_summary_and_workers(
    client: TestClient, reader: dict[str, str], db: psycopg.Connection
) -> None:
    job_id = add_job(db, "one")
    db.execute("INSERT INTO pgsched.workers (id, host, pid, concurrency) VALUES ('w1', 'h', 1, 4)")
    for hours, status in [(1, "succeeded"), (2, "succeeded"), (3, "failed"), (30, "failed")]:
        db.execute(
            "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, finished_at)"
            " VALUES (%s, 'one', now() - make_interval(hours => %s), %s, now())",
            [job_id, hours, status],
        )
    summary = client.get("/api/v1/summary", headers=reader).json()
    assert (summary["jobs"], summary["live_workers"]) == (1, 1)
    # The run 30 hours ago is outside the last 24 hours.
    assert (summary["succeeded_24h"], summary["failed_24h"]) == (2, 1)
    assert summary["success_rate_24h"] == pytest.approx(66.67)
    assert [worker["id"] for worker in client.get("/api/v1/workers", headers=reader).json()] == [
        "w1"
    ]


def test_on_a_primary_the_liveness_responses_say_a_replica_lag_of_zero(
    client: TestClient, admin: dict[str, str], db: psycopg.Connection
) -> None:
    job_id = add_job(db, "stalled")
    db.execute(
        "UPDATE pgsched.jobs SET next_run = now() - interval '5 minutes' WHERE id = %s", [job_id]
    )
    db.execute("INSERT INTO pgsched.workers (id, host, pid, concurrency) VALUES ('w1', 'h', 1, 4)")
    db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, worker_id,"
        " claimed_at, started_at) VALUES (%s, 'stalled', now(), 'running', 'w1', now(), now())",
        [job_id],
    )
    rows = liveness_rows(client, admin)
    assert all(len(found) == 1 for found in rows.values()), rows
    assert {path: found[0]["replica_lag_seconds"] for path, found in rows.items()} == dict.fromkeys(
        LIVENESS_RESPONSES, 0.0
    )
    # The fields that were there stay.
    assert rows["/api/v1/runs/running"][0]["worker_alive"] is True
    assert rows["/api/v1/summary"][0]["live_workers"] == 1
    assert rows["/api/v1/runs/missed"][0]["kind"] == "overdue"


def test_the_openapi_document_names_the_replica_lag_where_liveness_is_judged(
    client: TestClient,
) -> None:
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    for name in set(LIVENESS_RESPONSES.values()):
        lag = schemas[name]["properties"]["replica_lag_seconds"]
        assert lag["type"] == "number" and "pgsched.replica_lag()" in lag["description"], name
        assert "replica_lag_seconds" in schemas[name]["required"], name
    assert {"worker_alive", "running_duration_seconds"} <= set(schemas["RunningRun"]["properties"])


def test_the_openapi_document_describes_the_api_and_its_reference_is_served(
    client: TestClient,
) -> None:
    document = client.get("/api/v1/openapi.json").json()
    paths = document["paths"]
    for path in (
        "/api/v1/jobs",
        "/api/v1/jobs/{name}",
        "/api/v1/jobs/{name}/run",
        "/api/v1/runs",
        "/api/v1/runs/failed",
        "/api/v1/runs/missed",
        "/api/v1/workers",
        "/api/v1/summary",
        "/api/v1/jobs/{name}/preview",
    ):
        assert path in paths, path
    assert set(paths["/api/v1/jobs/{name}"]) == {"get", "put", "patch", "delete"}
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    reference = client.get("/api/v1/docs")
    assert reference.status_code == 200
    assert "http://testserver/static/swagger/swagger-ui-bundle.js" in reference.text
    assert 'data-openapi-url="/api/v1/openapi.json"' in reference.text
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200


def test_health_and_readiness_need_no_token(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}


def test_readiness_fails_while_the_database_cannot_be_reached() -> None:
    with web_client("postgresql://postgres@127.0.0.1:1/nothing") as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["status"] == "unavailable"


def test_reads_go_to_the_read_database_and_writes_and_tokens_to_the_primary(
    database_url: str, server_url: str, template_database: str, admin: dict[str, str]
) -> None:
    with (
        scratch_database(server_url, template=template_database) as replica_url,
        psycopg.connect(replica_url, autocommit=True) as replica,
        psycopg.connect(database_url, autocommit=True) as primary,
    ):
        add_job(replica, "seen-on-the-replica")
        with web_client(database_url, read_database_url=replica_url) as client:
            listed = client.get("/api/v1/jobs", headers=admin).json()
            assert [job["name"] for job in listed["items"]] == ["seen-on-the-replica"]
            body = {"name": "written", "schedule": "@daily", "kind": "shell", "target": "true"}
            assert client.post("/api/v1/jobs", headers=admin, json=body).status_code == 201
            assert client.get("/readyz").json() == {"status": "ok"}
        names = primary.execute("SELECT name FROM pgsched.jobs").fetchall()
        assert names == [("written",)]
