"""Runs, one run, failures, missed slots and workers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from pgsched.catalog import dashboard, workers
from pgsched.db.schema import RUN_STATUSES
from pgsched.web.pages.access import Changer, Viewer
from pgsched.web.pages.rendering import render
from pgsched.web.problems import Problem
from pgsched.web.replays import replay_or_refuse
from pgsched.web.state import web_state

router = APIRouter()
PAGE_SIZE = 50


def _empty(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _instant(value: str | None, name: str) -> datetime | None:
    value = _empty(value)
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise Problem(422, "Invalid time", f"{name}: {value!r} is not a date or time") from None


@router.get("/runs")
def runs_page(
    request: Request,
    context: Viewer,
    job: str | None = None,
    status: str | None = None,
    since: str | None = None,
    until: str | None = None,
    before: Annotated[int | None, Query()] = None,
) -> Response:
    """Runs newest first, filtered by job, status and slot time; older pages by cursor."""
    job, status = _empty(job), _empty(status)
    since_at, until_at = _instant(since, "since"), _instant(until, "until")
    if since_at is not None and since_at.tzinfo is None:
        since_at = since_at.replace(tzinfo=context.zone)
    if until_at is not None and until_at.tzinfo is None:
        until_at = until_at.replace(tzinfo=context.zone)
    with web_state(request).database.transaction(context.principal, write=False) as connection:
        fetched = dashboard.runs(
            connection,
            job=job,
            status=status,
            since=since_at,
            until=until_at,
            before_id=before,
            limit=PAGE_SIZE,
        )
    filters = {"job": job, "status": status, "since": _empty(since), "until": _empty(until)}
    return render(
        request,
        context,
        "runs.html",
        runs=fetched.rows,
        fetched=fetched,
        older=fetched.next_cursor,
        filters=filters,
        statuses=RUN_STATUSES,
    )


@router.get("/runs/{run_id}")
def run_page(request: Request, context: Viewer, run_id: int) -> Response:
    """One attempt with its error and output."""
    with web_state(request).database.transaction(context.principal, write=False) as connection:
        run = dashboard.run(connection, run_id)
    return render(request, context, "run.html", run=run)


@router.post("/runs/{run_id}/retry")
def retry_run(request: Request, context: Changer, run_id: int) -> Response:
    """Replay the run's slot; on to the attempt that will run it."""
    with web_state(request).database.transaction(context.principal, write=True) as connection:
        replayed = replay_or_refuse(connection, run_id)
    return RedirectResponse(
        str(request.url_for("run_page", run_id=replayed.new_run_id)), status_code=303
    )


@router.get("/runs/{run_id}/output")
def run_output(request: Request, context: Viewer, run_id: int) -> Response:
    """One attempt's error and output, for the job page's runs by slot."""
    with web_state(request).database.transaction(context.principal, write=False) as connection:
        run = dashboard.run(connection, run_id)
    return render(request, context, "run_output.html", run=run)


@router.get("/failed")
def failed_page(request: Request, context: Viewer) -> Response:
    """The latest 100 failed, timed out or lost attempts, with their errors."""
    with web_state(request).database.transaction(context.principal, write=False) as connection:
        fetched = dashboard.failed_runs(connection)
    return render(request, context, "failed.html", fetched=fetched)


@router.get("/missed")
def missed_page(request: Request, context: Viewer) -> Response:
    """Slots that did not run, and jobs that stopped firing, with the reason; read on a
    replica, a note says how far behind."""
    with web_state(request).database.transaction(context.principal, write=False) as connection:
        fetched = dashboard.missed_runs(connection)
        replica = workers.replica_lag(connection)
    return render(request, context, "missed.html", fetched=fetched, replica=replica)


@router.get("/workers")
def workers_page(request: Request, context: Viewer) -> Response:
    """Live workers; for an admin, dead and stopped ones too; read on a replica, a note
    says how far behind."""
    admin = context.principal.is_admin
    with web_state(request).database.transaction(context.principal, write=False) as connection:
        fetched = dashboard.workers(connection, include_stopped=admin)
        replica = workers.replica_lag(connection)
    return render(request, context, "workers.html", fetched=fetched, replica=replica)
