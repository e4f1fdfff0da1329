"""``create_app``: the dashboard and the HTTP API as one FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

import pgsched.web.problems as problems
from pgsched.errors import PgschedError
from pgsched.web.api import jobs, runs
from pgsched.web.auth import Authenticator
from pgsched.web.database import WebDatabase
from pgsched.web.docs import mount_api_docs
from pgsched.web.headers import ResponseHeaders
from pgsched.web.pages import error_page, mount_pages
from pgsched.web.problems import Problem
from pgsched.web.settings import WebSettings
from pgsched.web.state import WebState

API_PREFIX = "/api/v1"
API_DESCRIPTION = """The HTTP API of pgsched, a cron scheduler whose jobs and runs live in
PostgreSQL. Authenticate with an API token (`pgsched tokens create --role reader|admin`)
sent as `Authorization: Bearer TOKEN`. Errors are `application/problem+json`; a value
the database refuses is a 422 whose `column` names the column."""


def create_app(settings: WebSettings) -> FastAPI:
    """The application for ``settings``; mount it anywhere, serve it with any ASGI server."""
    database = WebDatabase(settings)
    state = WebState(settings, database, Authenticator(settings, database))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(database.open)
        try:
            yield
        finally:
            await run_in_threadpool(database.close)

    app = FastAPI(
        title="pgsched",
        description=API_DESCRIPTION,
        version=_version(),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.pgsched = state
    for router in (jobs.router, runs.router):
        app.include_router(router, prefix=API_PREFIX)
    mount_api_docs(app, API_PREFIX)
    mount_pages(app)
    app.add_middleware(ResponseHeaders)
    _add_error_handlers(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> Response:
        """The database answers and its schema is current."""
        problem = database.readiness()
        if problem:
            return JSONResponse({"status": "unavailable", "detail": problem}, status_code=503)
        return JSONResponse({"status": "ok"})

    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pgsched")
    except PackageNotFoundError:
        return "unknown"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def _add_error_handlers(app: FastAPI) -> None:
    async def problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        if not _is_api(request):
            return await error_page(request, exc)
        return JSONResponse(
            exc.document(request.url.path),
            status_code=exc.status,
            headers=exc.headers,
            media_type=problems.MEDIA_TYPE,
        )

    async def database_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, psycopg.Error)
        return await problem(request, problems.from_database_error(exc))

    async def pgsched_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PgschedError)
        return await problem(request, problems.from_pgsched_error(exc))

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = jsonable_encoder(exc.errors(), exclude={"input", "ctx", "url"})
        first = errors[0] if errors else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        detail = f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg")
        return await problem(
            request, Problem(422, "Invalid request", detail, kind="invalid-request", errors=errors)
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return await problem(
            request, Problem(exc.status_code, str(exc.detail), headers=exc.headers)
        )

    app.add_exception_handler(Problem, problem)
    app.add_exception_handler(psycopg.Error, database_error)
    app.add_exception_handler(PgschedError, pgsched_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
