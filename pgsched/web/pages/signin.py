"""Signing in to the dashboard with a token, and out again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

import pgsched.web.sessions as sessions
from pgsched.catalog.tokens import token_digest
from pgsched.web.auth import require_csrf, require_same_origin
from pgsched.web.pages.rendering import TEMPLATES, set_session_cookie
from pgsched.web.state import web_state

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never another host (an open redirect). Browsers drop
    tabs and line breaks from URLs and read a backslash as a slash, so a path holding
    any of them could turn into ``//host``."""
    if not target or not target.startswith("/") or not target.isprintable():
        return "/"
    if "\\" in target or target.startswith("//"):
        return "/"
    return target


def _form(request: Request, next_path: str, error: str | None, status: int) -> Response:
    state = web_state(request)
    html = TEMPLATES.get_template("login.html").render(
        request=request,
        next=next_path,
        error=error,
        proxy=state.settings.trusted_header,
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    """The sign-in form: paste a token."""
    return _form(request, _safe_next(next), None, 200)


@router.post("/login")
async def login(
    request: Request,
    token: Annotated[str, Form()],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Check the token and start a session: a signed, HttpOnly, SameSite=Strict cookie."""
    require_same_origin(request, required=True)
    state = web_state(request)
    found = await state.authenticator.token(token.strip())
    if found is None:
        return _form(request, _safe_next(next), "That token is unknown, revoked or expired.", 401)
    session = sessions.Session.start(token_digest(token.strip()), state.settings.session_hours)
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(request, response, session)
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str | None, Form()] = None) -> Response:
    """End the session."""
    require_csrf(request, web_state(request).authenticator.session(request), csrf_token)
    response = RedirectResponse(str(request.url_for("login_form")), status_code=303)
    response.delete_cookie(sessions.COOKIE_NAME, path=request.scope.get("root_path") or "/")
    return response
