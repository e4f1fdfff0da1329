"""The jobs page, a job's page, and the buttons: enable/disable, run now, edit,
pause everything a filter selects."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

import psycopg
from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from psycopg.rows import DictRow
from starlette.concurrency import run_in_threadpool

from pgsched.catalog import dashboard, definitions, jobs
from pgsched.catalog.dashboard import HEALTH_WORDS, JobFilter
from pgsched.errors import InvalidJob
from pgsched.web.auth import public_host
from pgsched.web.charts import Layer, slot_strip, stacked_bars
from pgsched.web.pages.access import Changer, Viewer
from pgsched.web.pages.rendering import TEMPLATES, PageContext, render
from pgsched.web.problems import Problem, from_database_error, from_pgsched_error
from pgsched.web.state import web_state

router = APIRouter()
PAGE_SIZE = 50
SPARKLINE_SLOTS = 60
STRIP_SLOTS = 60
PREVIEW_FIRES = 10
TIMELINE_HOURS = (24, 72, 168)
TIMELINE_LAYERS = (
    Layer("successes", "succeeded", "ok"),
    Layer("failures", "failed", "bad"),
)
# Fields of the edit form, by how a text box's value becomes the column's.
NUMBER_FIELDS = (
    "timeout_seconds",
    "max_attempts",
    "retry_delay_seconds",
    "misfire_threshold_seconds",
    "priority",
)
TEXT_FIELDS = ("schedule", "timezone", "kind", "target", "overlap", "misfire", "queue")
LABEL_FIELDS = ("category", "description")
FILTER_FIELDS = ("search", "queue", "kind", "category", "enabled", "health")
# "Pause all filtered" disables at most this many jobs in one transaction.
MAX_PAUSED = 100_000


def _filter(values: dict[str, str | None]) -> JobFilter:
    enabled = {"yes": True, "no": False}.get(values.get("enabled") or "")
    return JobFilter(
        search=values.get("search") or None,
        queue=values.get("queue") or None,
        kind=values.get("kind") or None,
        category=values.get("category") or None,
        enabled=enabled,
        health=values.get("health") or None,
    )


def _sparklines(context: PageContext, slots: list[DictRow]) -> dict[str, Any]:
    by_job: dict[str, list[DictRow]] = {}
    for slot in slots:
        by_job.setdefault(slot["job_name"], []).append(slot)
    return {
        name: slot_strip(rows, context.label, title=f"Latest slots of {name}", cell=5, height=18)
        for name, rows in by_job.items()
    }


@router.get("/jobs")
def jobs_page(
    request: Request,
    context: Viewer,
    search: str | None = None,
    queue: str | None = None,
    kind: str | None = None,
    category: str | None = None,
    enabled: str | None = None,
    health: str | None = None,
    after: str | None = None,
) -> Response:
    """Jobs in name order with their schedule, state, last and next run, success
    badge and latest slots; filters live in the URL."""
    values = {"search": search, "queue": queue, "kind": kind, "category": category}
    values |= {"enabled": enabled, "health": health}
    selection = _filter(values)
    with web_state(request).database.transaction(context.principal, write=False) as connection:
        names = dashboard.job_names(connection, selection, after or None, PAGE_SIZE + 1)
        page = [row["name"] for row in names.rows[:PAGE_SIZE]]
        rows = dashboard.jobs(connection, page)
        slots = dashboard.recent_slots(connection, page, SPARKLINE_SLOTS)
    filters = {key: value for key, value in values.items() if value}
    following = page[-1] if len(names.rows) > PAGE_SIZE else None
    return render(
        request,
        context,
        "jobs.html",
        jobs=rows.rows,
        fetched=rows,
        names=names,
        slots=slots,
        sparklines=_sparklines(context, slots.rows),
        filters=filters,
        query=urlencode(filters),
        next_query=urlencode(filters | {"after": following}) if following else None,
        health_words=HEALTH_WORDS,
    )


def _job_page(
    request: Request,
    context: PageContext,
    name: str,
    hours: int,
    status: int = 200,
    form_error: Problem | None = None,
    form_values: dict[str, str] | None = None,
) -> Response:
    with web_state(request).database.transaction(context.principal, write=False) as connection:
        job = dashboard.job(connection, name)
        preview = dashboard.preview(connection, name, PREVIEW_FIRES)
        strip = dashboard.slot_strip(connection, name, STRIP_SLOTS)
        stats = dashboard.job_stats(connection, name, 30)
        timeline = dashboard.job_timeline(connection, name, hours)
        runs = dashboard.runs(connection, job=name, limit=30)
    return render(
        request,
        context,
        "job.html",
        status=status,
        job=job,
        preview=preview,
        strip=strip,
        strip_svg=slot_strip(strip.rows, context.label, title=f"Latest slots of {name}"),
        stats=stats,
        timeline=timeline,
        timeline_svg=stacked_bars(
            timeline.rows,
            TIMELINE_LAYERS,
            context.label,
            time_key="time_bucket",
            title=f"{name}, hour by hour, the last {hours} hours",
        ),
        hours=hours,
        hour_choices=TIMELINE_HOURS,
        runs=runs,
        form_error=form_error,
        form=form_values or _form_values(job),
    )


def _form_values(job: DictRow) -> dict[str, str]:
    values = {key: str(job[key]) for key in (*TEXT_FIELDS, *NUMBER_FIELDS)}
    values |= {key: job[key] or "" for key in LABEL_FIELDS}
    values["args"] = json.dumps(job["args"], indent=2)
    return values


@router.get("/jobs/{name:path}")
def job_page(
    request: Request,
    context: Viewer,
    name: str,
    hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24,
) -> Response:
    """A job: next fires with DST notes, latest slots, figures, timeline, runs by
    slot with error and output, and (for an admin) an edit form."""
    return _job_page(request, context, name, hours)


def _back(request: Request, fallback: str) -> str:
    """Where a button's page was: the Referer if it is this site's, else ``fallback``."""
    referer = request.headers.get("referer")
    if referer and urlsplit(referer).netloc == public_host(request, web_state(request).settings):
        parts = urlsplit(referer)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return fallback


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


@router.post("/jobs/{name:path}/enabled")
def set_enabled(
    request: Request,
    context: Changer,
    name: str,
    enabled: Annotated[bool, Form()],
) -> Response:
    """Enable or disable a job; for htmx, its refreshed row."""
    with web_state(request).database.transaction(context.principal, write=True) as connection:
        jobs.set_enabled(connection, name, enabled)
        rows = dashboard.jobs(connection, [name])
        slots = dashboard.recent_slots(connection, [name], SPARKLINE_SLOTS)
    if not _is_htmx(request):
        job_url = str(request.url_for("job_page", name=quote(name, safe="")))
        return RedirectResponse(_back(request, job_url), status_code=303)
    html = TEMPLATES.get_template("job_row.html").render(
        request=request, ctx=context, job=rows.rows[0], sparklines=_sparklines(context, slots.rows)
    )
    return HTMLResponse(html)


@router.post("/jobs/{name:path}/run")
def run_now(request: Request, context: Changer, name: str) -> Response:
    """Queue a manual run; for htmx, a note saying which."""
    with web_state(request).database.transaction(context.principal, write=True) as connection:
        run_id = jobs.run_now(connection, name)
    if not _is_htmx(request):
        return RedirectResponse(
            str(request.url_for("job_page", name=quote(name, safe=""))), status_code=303
        )
    html = TEMPLATES.get_template("run_queued.html").render(
        request=request, ctx=context, run_id=run_id, job_name=name
    )
    return HTMLResponse(html, status_code=202)


@router.post("/jobs/{name:path}/edit")
async def edit_job(request: Request, context: Changer, name: str) -> Response:
    """Change a job from the edit form; the database validates, and what it refuses
    comes back on the form naming the field."""
    form = await request.form()
    values = {key: str(form.get(key, "")) for key in (*TEXT_FIELDS, *NUMBER_FIELDS, *LABEL_FIELDS)}
    values["args"] = str(form.get("args", "{}"))
    return await run_in_threadpool(_edit, request, context, name, values)


def _edit(request: Request, context: PageContext, name: str, values: dict[str, str]) -> Response:
    try:
        changes = _changes(values)
        with web_state(request).database.transaction(context.principal, write=True) as connection:
            definitions.patch_job(connection, name, changes)
    except psycopg.Error as exc:
        problem = from_database_error(exc)
    except InvalidJob as exc:
        problem = from_pgsched_error(exc)
    except Problem as exc:
        problem = exc
    else:
        return RedirectResponse(
            str(request.url_for("job_page", name=quote(name, safe=""))), status_code=303
        )
    if problem.status != 422:
        raise problem
    return _job_page(request, context, name, TIMELINE_HOURS[0], 422, problem, values)


def _changes(values: dict[str, str]) -> dict[str, Any]:
    changes: dict[str, Any] = {key: values[key].strip() for key in TEXT_FIELDS}
    for key in NUMBER_FIELDS:
        try:
            changes[key] = int(values[key].strip())
        except ValueError:
            raise Problem(
                422, "Not a number", f"{key} must be a whole number", column=key
            ) from None
    for key in LABEL_FIELDS:
        changes[key] = values[key].strip() or None
    try:
        changes["args"] = json.loads(values["args"] or "{}")
    except json.JSONDecodeError as exc:
        raise Problem(422, "Not JSON", f"args is not valid JSON: {exc}", column="args") from None
    return changes


@router.post("/jobs/pause")
async def pause_filtered(request: Request, context: Changer) -> Response:
    """Disable every job the jobs page's filter selects (all pages of it)."""
    form = await request.form()
    values = {key: (str(form[key]) if key in form else None) for key in FILTER_FIELDS}
    selection = _filter(values)

    await run_in_threadpool(_pause, request, context, selection)
    filters = {key: value for key, value in values.items() if value}
    return RedirectResponse(f"/jobs?{urlencode(filters)}", status_code=303)


def _pause(request: Request, context: PageContext, selection: JobFilter) -> None:
    with web_state(request).database.transaction(context.principal, write=True) as connection:
        for row in dashboard.job_names(connection, selection, None, MAX_PAUSED).rows:
            jobs.set_enabled(connection, row["name"], False)
