"""``/api/v1/runs``, ``/workers`` and ``/summary``: what happened and who is working."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from psycopg.rows import DictRow

from pgsched.catalog import dashboard, runs
from pgsched.catalog.dashboard import Row
from pgsched.web.api import schemas
from pgsched.web.auth import require_admin
from pgsched.web.principals import Principal
from pgsched.web.replays import replay_or_refuse
from pgsched.web.state import ApiPrincipal, web_state

router = APIRouter(tags=["runs"])


def run_page(
    request: Request,
    principal: Principal,
    job: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: int | None,
) -> dict[str, Any]:
    """A page of runs and the cursor of the next."""
    with web_state(request).database.transaction(principal, write=False) as connection:
        if job is not None:
            runs.require_job(connection, job)
        page = dashboard.runs(
            connection,
            job=job,
            status=status,
            since=since,
            until=until,
            before_id=cursor,
            limit=limit,
        )
    return {"items": page.rows, "next_cursor": page.next_cursor}


@router.get("/runs", response_model=schemas.RunPage, summary="List runs")
def list_runs(
    request: Request,
    principal: ApiPrincipal,
    job: str | None = None,
    status: str | None = None,
    since: Annotated[datetime | None, Query(description="Slots from then on.")] = None,
    until: Annotated[datetime | None, Query(description="Slots before then.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[int | None, Query(description="next_cursor of the previous page.")] = None,
) -> dict[str, Any]:
    """Attempts, newest recorded first."""
    return run_page(request, principal, job, status, since, until, limit, cursor)


@router.get("/runs/failed", response_model=list[schemas.FailedRun], summary="Latest failures")
def failed_runs(
    request: Request,
    principal: ApiPrincipal,
    job: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> list[DictRow]:
    """``pgsched.failed_runs``: the latest 100 failed, timed out or lost attempts."""
    with web_state(request).database.transaction(principal, write=False) as connection:
        return dashboard.failed_runs(connection, job, limit).rows


@router.get("/runs/missed", response_model=list[schemas.MissedRun], summary="Missed slots")
def missed_runs(
    request: Request,
    principal: ApiPrincipal,
    job: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[DictRow]:
    """``pgsched.missed_runs``: skipped slots, misfire gaps, and jobs overdue,
    unscheduled or invalid now (on a replica: as of now() minus replica_lag_seconds)."""
    with web_state(request).database.transaction(principal, write=False) as connection:
        return dashboard.missed_runs(connection, job, limit).rows


@router.get("/runs/running", response_model=list[schemas.RunningRun], summary="Running now")
def running_runs(
    request: Request, principal: ApiPrincipal, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[DictRow]:
    """``pgsched.running_runs``: attempts in progress, oldest first; on a replica,
    durations and worker_alive as of now() minus replica_lag_seconds."""
    with web_state(request).database.transaction(principal, write=False) as connection:
        return dashboard.running_runs(connection, limit).rows


@router.post(
    "/runs/{run_id}/retry",
    response_model=schemas.RunReplay,
    status_code=202,
    summary="Replay a run's slot",
)
def retry_run(request: Request, principal: ApiPrincipal, run_id: int) -> dict[str, Any]:
    """A new attempt of the finished run's slot (trigger manual), or the slot's attempt
    already pending or running (``queued`` false): never two at once. 409 for a run
    not finished, a skipped record, a deleted, disabled or invalid job."""
    require_admin(principal)
    with web_state(request).database.transaction(principal, write=True) as connection:
        replayed = replay_or_refuse(connection, run_id)
    return {
        "run_id": run_id,
        "new_run_id": replayed.new_run_id,
        "queued": replayed.queued,
        "job_name": replayed.job_name,
        "scheduled_for": replayed.scheduled_for,
        "attempt": replayed.attempt,
        "status": replayed.status,
    }


@router.get("/runs/{run_id}", response_model=schemas.RunDetail, summary="Get a run")
def get_run(request: Request, principal: ApiPrincipal, run_id: int) -> Row:
    """One attempt, with its output."""
    with web_state(request).database.transaction(principal, write=False) as connection:
        return dashboard.run(connection, run_id)


@router.get("/workers", response_model=list[schemas.Worker], tags=["workers"], summary="Workers")
def workers(
    request: Request,
    principal: ApiPrincipal,
    include_stopped: Annotated[
        bool, Query(alias="all", description="Also dead and stopped workers (admin).")
    ] = False,
) -> list[DictRow]:
    """Workers heartbeating within their lease, with their load; on a replica, judged
    as of now() minus replica_lag_seconds, so that its lag does not make them dead."""
    with web_state(request).database.transaction(principal, write=False) as connection:
        return dashboard.workers(connection, include_stopped).rows


@router.get("/summary", response_model=schemas.Summary, tags=["summary"], summary="Summary")
def summary(request: Request, principal: ApiPrincipal) -> DictRow:
    """The overview's figures: jobs, running attempts, the last 24 hours' outcomes,
    missed slots, live workers, the scheduler's lag, and how far the data read
    trails the primary (replica_lag_seconds, 0 on a primary)."""
    with web_state(request).database.transaction(principal, write=False) as connection:
        return dashboard.summary(connection).one()
