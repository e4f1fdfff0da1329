"""The dashboard: server-rendered pages, htmx for live refresh and buttons."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from pgsched.web.pages import jobs, overview, runs, signin
from pgsched.web.pages.access import SignInRequired
from pgsched.web.pages.rendering import TEMPLATES
from pgsched.web.problems import Problem

STATIC = Path(__file__).resolve().parent.parent / "static"


def mount_pages(app: FastAPI) -> None:
    """Add the pages and the static files."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (overview, jobs, runs, signin):
        app.include_router(module.router, include_in_schema=False)

    async def sign_in_first(request: Request, exc: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login = str(request.url_for("login_form").include_query_params(next=target))
        if request.headers.get("hx-request") == "true":
            return Response(status_code=401, headers={"HX-Redirect": login})
        return RedirectResponse(login, status_code=303)

    app.add_exception_handler(SignInRequired, sign_in_first)


async def error_page(request: Request, problem: Problem) -> Response:
    """A dashboard error as a page (or, for htmx, a fragment it shows)."""
    html = TEMPLATES.get_template("error.html").render(request=request, problem=problem)
    return HTMLResponse(html, status_code=problem.status, headers=problem.headers)
