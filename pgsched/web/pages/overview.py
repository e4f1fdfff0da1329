"""The overview: cards, the outcomes chart, running attempts, latest errors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from pgsched.catalog import dashboard, workers
from pgsched.web.charts import Layer, stacked_bars
from pgsched.web.pages.access import Viewer
from pgsched.web.pages.rendering import render
from pgsched.web.state import web_state

router = APIRouter()
OUTCOME_LAYERS = (Layer("succeeded", "succeeded", "ok"), Layer("failed", "failed", "bad"))
RANGES = (1, 7, 14, 30)


@router.get("/")
def overview(
    request: Request, context: Viewer, days: Annotated[int, Query(ge=1, le=30)] = 7
) -> Response:
    """Jobs, running attempts, 24 h success rate, failures, missed slots, lag, workers;
    read on a replica, a note says how far behind."""
    with web_state(request).database.transaction(context.principal, write=False) as connection:
        summary = dashboard.summary(connection)
        outcomes = dashboard.outcomes(connection, days)
        running = dashboard.running_runs(connection, limit=20)
        errors = dashboard.failed_runs(connection, limit=10)
        replica = workers.replica_lag(connection)
    chart = stacked_bars(
        outcomes.rows,
        OUTCOME_LAYERS,
        context.label,
        time_key="bucket",
        title=f"Outcomes of the last {days} day(s), per {'hour' if days == 1 else 'day'}",
    )
    return render(
        request,
        context,
        "overview.html",
        summary=summary,
        outcomes=outcomes,
        chart=chart,
        days=days,
        ranges=RANGES,
        running=running,
        errors=errors,
        replica=replica,
    )
