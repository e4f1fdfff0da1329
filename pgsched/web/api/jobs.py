"""``/api/v1/jobs``: list, read, create, replace, change, remove, pause and run jobs,
and a job's runs, figures, timeline, next fires and slots."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request, Response
from psycopg.rows import DictRow

from pgsched.catalog import dashboard, definitions, jobs
from pgsched.catalog.dashboard import HEALTH_WORDS, JobFilter
from pgsched.scheduling.words import describe
from pgsched.web.api import schemas
from pgsched.web.api.runs import run_page
from pgsched.web.auth import require_admin
from pgsched.web.principals import Principal
from pgsched.web.problems import Problem
from pgsched.web.state import ApiPrincipal, web_state

router = APIRouter(prefix="/jobs", tags=["jobs"])
# Longest Idempotency-Key accepted: UUIDs and hashes fit well within it.
MAX_IDEMPOTENCY_KEY = 200


def job_document(row: DictRow) -> dict[str, Any]:
    """A job row as the API shows it."""
    return {**row, "schedule_in_words": describe(row["schedule"])}


def read_job(request: Request, principal: Principal, name: str) -> dict[str, Any]:
    """One job, read in a transaction of its own."""
    with web_state(request).database.transaction(principal, write=False) as connection:
        return job_document(dashboard.job(connection, name))


@router.get("", response_model=schemas.JobPage, summary="List jobs")
def list_jobs(
    request: Request,
    principal: ApiPrincipal,
    search: Annotated[str | None, Query(description="Part of the name or description.")] = None,
    queue: str | None = None,
    kind: str | None = None,
    category: str | None = None,
    enabled: bool | None = None,
    health: Annotated[
        str | None,
        Query(description="job_health's word.", json_schema_extra={"enum": list(HEALTH_WORDS)}),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
) -> dict[str, Any]:
    """Jobs in name order, with their health; filters combine."""
    selection = JobFilter(search, queue, kind, category, enabled, health)
    with web_state(request).database.transaction(principal, write=False) as connection:
        names = [
            row["name"]
            for row in dashboard.job_names(connection, selection, cursor, limit + 1).rows
        ]
        page = names[:limit]
        rows = dashboard.jobs(connection, page).rows
    return {
        "items": [job_document(row) for row in rows],
        "next_cursor": page[-1] if len(names) > limit else None,
    }


@router.post("", response_model=schemas.Job, status_code=201, summary="Create a job")
def create_job(
    request: Request, response: Response, principal: ApiPrincipal, job: schemas.JobDefinition
) -> dict[str, Any]:
    """Register a job. The database checks it: a refused value is a 422 naming the column."""
    require_admin(principal)
    with web_state(request).database.transaction(principal, write=True) as connection:
        definitions.create_job(connection, job.model_dump())
        created = job_document(dashboard.job(connection, job.name))
    response.headers["Location"] = str(request.url_for("get_job", name=quote(job.name, safe="")))
    return created


def _set_enabled(
    request: Request, principal: Principal, name: str, enabled: bool | None
) -> dict[str, Any]:
    require_admin(principal)
    with web_state(request).database.transaction(principal, write=True) as connection:
        if enabled is None:
            enabled = not dashboard.job(connection, name)["enabled"]
        jobs.set_enabled(connection, name, enabled)
        return job_document(dashboard.job(connection, name))


@router.post("/{name:path}/enable", response_model=schemas.Job, summary="Enable a job")
def enable_job(request: Request, principal: ApiPrincipal, name: str) -> dict[str, Any]:
    """It fires from its next slot on; slots passed while disabled are not owed."""
    return _set_enabled(request, principal, name, True)


@router.post("/{name:path}/disable", response_model=schemas.Job, summary="Disable a job")
def disable_job(request: Request, principal: ApiPrincipal, name: str) -> dict[str, Any]:
    """It fires no more; an attempt running now runs to its end."""
    return _set_enabled(request, principal, name, False)


@router.post("/{name:path}/toggle", response_model=schemas.Job, summary="Enable or disable a job")
def toggle_job(request: Request, principal: ApiPrincipal, name: str) -> dict[str, Any]:
    """Disable an enabled job, enable a disabled one."""
    return _set_enabled(request, principal, name, None)


@router.post(
    "/{name:path}/run", response_model=schemas.RunAccepted, status_code=202, summary="Run a job now"
)
def run_job(
    request: Request,
    principal: ApiPrincipal,
    name: str,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="Repeating a request with the same key (within a day) "
            "returns the same run instead of starting another."
        ),
    ] = None,
) -> dict[str, Any]:
    """Queue a manual run; a worker starts it within about a second."""
    require_admin(principal)
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise Problem(
            422, "Invalid Idempotency-Key", f"it must have 1 to {MAX_IDEMPOTENCY_KEY} characters"
        )
    with web_state(request).database.transaction(principal, write=True) as connection:
        if idempotency_key is None:
            return {
                "run_id": jobs.run_now(connection, name),
                "job_name": name,
                "replayed": False,
            }
        run = definitions.run_now_once(connection, name, principal.actor, idempotency_key)
    return {"run_id": run.run_id, "job_name": name, "replayed": run.replayed}


@router.get("/{name:path}/runs", response_model=schemas.RunPage, summary="A job's runs")
def job_runs(
    request: Request,
    principal: ApiPrincipal,
    name: str,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: int | None = None,
) -> dict[str, Any]:
    """The job's attempts, newest first (a deleted job's runs too, by its old name)."""
    return run_page(request, principal, name, status, since, until, limit, cursor)


@router.get("/{name:path}/stats", response_model=schemas.JobStats, summary="A job's figures")
def job_stats(
    request: Request,
    principal: ApiPrincipal,
    name: str,
    days: Annotated[int, Query(ge=1, le=36_500)] = 30,
) -> dict[str, Any]:
    """``pgsched.job_stats``: success rate and durations over the last ``days`` days."""
    with web_state(request).database.transaction(principal, write=False) as connection:
        return dict(dashboard.job_stats(connection, name, days).one())


@router.get(
    "/{name:path}/timeline",
    response_model=list[schemas.TimelineBucket],
    summary="A job by the hour",
)
def job_timeline(
    request: Request,
    principal: ApiPrincipal,
    name: str,
    hours: Annotated[int, Query(ge=1, le=24 * 366)] = 24,
) -> list[DictRow]:
    """``pgsched.job_timeline``: one bucket per hour, the current hour last."""
    with web_state(request).database.transaction(principal, write=False) as connection:
        return dashboard.job_timeline(connection, name, hours).rows


@router.get("/{name:path}/preview", response_model=list[schemas.FireTime], summary="Next fires")
def job_preview(
    request: Request,
    principal: ApiPrincipal,
    name: str,
    count: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> list[DictRow]:
    """``pgsched.preview_runs``: the next slots, marking those a DST transition moves."""
    with web_state(request).database.transaction(principal, write=False) as connection:
        return dashboard.preview(connection, name, count).rows


@router.get(
    "/{name:path}/slots", response_model=list[schemas.Slot], summary="How the latest slots ended"
)
def job_slots(
    request: Request,
    principal: ApiPrincipal,
    name: str,
    count: Annotated[int, Query(ge=1, le=1000)] = 60,
) -> list[DictRow]:
    """The latest slots, newest first: each slot's final status, or ``missed`` for an
    expected slot nobody recorded."""
    with web_state(request).database.transaction(principal, write=False) as connection:
        dashboard.job(connection, name)
        return dashboard.slot_strip(connection, name, count).rows


# The routes of a job itself come last: a name may hold slashes ({name:path}),
# so /jobs/a/runs must meet the /runs route before it could read as job "a/runs".


@router.get("/{name:path}", response_model=schemas.Job, summary="Get a job")
def get_job(request: Request, principal: ApiPrincipal, name: str) -> dict[str, Any]:
    """One job with its state and health."""
    return read_job(request, principal, name)


@router.put("/{name:path}", response_model=schemas.Job, summary="Replace a job")
def replace_job(
    request: Request, principal: ApiPrincipal, name: str, job: schemas.JobDefinition
) -> dict[str, Any]:
    """Make the job hold this definition; a different ``name`` renames it. A new
    schedule or zone is planned afresh from now."""
    require_admin(principal)
    with web_state(request).database.transaction(principal, write=True) as connection:
        definitions.replace_job(connection, name, job.model_dump())
        return job_document(dashboard.job(connection, job.name))


@router.patch("/{name:path}", response_model=schemas.Job, summary="Change a job")
def patch_job(
    request: Request, principal: ApiPrincipal, name: str, changes: schemas.JobChanges
) -> dict[str, Any]:
    """Change the given fields; the others stay."""
    require_admin(principal)
    given = changes.model_dump(exclude_unset=True)
    with web_state(request).database.transaction(principal, write=True) as connection:
        definitions.patch_job(connection, name, given)
        return job_document(dashboard.job(connection, given.get("name") or name))


@router.delete("/{name:path}", status_code=204, summary="Remove a job")
def delete_job(
    request: Request,
    principal: ApiPrincipal,
    name: str,
    force: Annotated[bool, Query(description="Remove it even while an attempt runs.")] = False,
) -> Response:
    """Delete the job; its runs stay. 409 while an attempt runs, unless ``force``."""
    require_admin(principal)
    with web_state(request).database.transaction(principal, write=True) as connection:
        jobs.remove_job(connection, name, force=force)
    return Response(status_code=204)
