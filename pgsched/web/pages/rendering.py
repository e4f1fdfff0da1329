"""Rendering dashboard pages: the templates, display preferences (time zone, theme),
the session cookie, ETags for live refresh, and the page's security headers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

import pgsched.web.sessions as sessions
from pgsched.scheduling.words import describe
from pgsched.text import first_line
from pgsched.web.auth import served_over_https
from pgsched.web.principals import Principal
from pgsched.web.state import web_state

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
TZ_COOKIE = "pgsched_tz"
THEME_COOKIE = "pgsched_theme"
THEMES = ("light", "dark")
# Zones offered in the picker besides the browser's own and any typed in.
COMMON_ZONES = (
    "UTC",
    "America/Los_Angeles",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Berlin",
    "Africa/Johannesburg",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
)


@dataclass(frozen=True)
class PageContext:
    """Who looks at a page and how they want it shown."""

    principal: Principal
    session: sessions.Session
    new_session: bool
    zone: ZoneInfo
    theme: str | None

    @property
    def csrf(self) -> str:
        """The CSRF token forms carry."""
        return self.session.csrf

    def when(self, value: datetime | None, seconds: bool = True) -> Markup:
        """An instant in the display zone, with its UTC value on hover."""
        if value is None:
            return Markup('<span class="none">\u2013</span>')
        local = value.astimezone(self.zone)
        shown = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
        return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(
            value.isoformat(), shown
        )

    def label(self, value: datetime) -> str:
        """A short instant for chart labels, in the display zone."""
        return value.astimezone(self.zone).strftime("%m-%d %H:%M")


def display_zone(request: Request) -> ZoneInfo:
    """The zone the user picked (a cookie), else UTC."""
    name = request.cookies.get(TZ_COOKIE, "UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def page_context(request: Request, principal: Principal) -> PageContext:
    """The context of a page for ``principal``, starting a session when there is none."""
    state = web_state(request)
    session = state.authenticator.session(request)
    theme = request.cookies.get(THEME_COOKIE)
    return PageContext(
        principal=principal,
        session=session or sessions.Session.start(None, state.settings.session_hours),
        new_session=session is None,
        zone=display_zone(request),
        theme=theme if theme in THEMES else None,
    )


def duration(ms: float | None) -> str:
    """Milliseconds for people: 850 ms, 12.3 s, 4 min 10 s."""
    if ms is None:
        return "\u2013"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def percent(value: Decimal | float | None) -> str:
    """A percentage, or a dash."""
    return "\u2013" if value is None else f"{float(value):.1f} %"


def rate_class(value: Decimal | float | None) -> str:
    """green, yellow or red for a success rate (job_health's thresholds: 95, 80)."""
    if value is None:
        return "idle"
    return "healthy" if value >= 95 else "degraded" if value >= 80 else "failing"


def pathpart(value: str) -> str:
    """``value`` quoted to stand as one part of a URL path (a job name may hold ``/``,
    ``?`` or ``#``; the server decodes it back)."""
    return quote(value, safe="")


TEMPLATES.env.filters.update(
    duration=duration, percent=percent, first_line=first_line, in_words=describe, pathpart=pathpart
)
TEMPLATES.env.globals.update(rate_class=rate_class, common_zones=COMMON_ZONES)


def render(
    request: Request, context: PageContext, template: str, status: int = 200, **values: Any
) -> Response:
    """The page, or only its live region for htmx's refresh; 304 when the client
    already has this version (If-None-Match)."""
    partial = request.headers.get("hx-request") == "true" and "hx-boosted" not in request.headers
    html = TEMPLATES.get_template(template).render(
        request=request, ctx=context, partial=partial, **values
    )
    etag = '"' + hashlib.blake2b(html.encode("utf-8"), digest_size=12).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": "no-store", "Vary": "HX-Request"}
    if status == 200 and request.headers.get("if-none-match") == etag:
        response: Response = Response(status_code=304, headers=headers)
    else:
        response = HTMLResponse(html, status, headers=headers)
    if context.new_session:
        set_session_cookie(request, response, context.session)
    return response


def set_session_cookie(request: Request, response: Response, session: sessions.Session) -> None:
    """Send ``session``: HttpOnly, SameSite=Strict, Secure over HTTPS."""
    state = web_state(request)
    response.set_cookie(
        sessions.COOKIE_NAME,
        sessions.encode(session, state.settings.session_secret),
        max_age=state.settings.session_hours * 3600,
        path=request.scope.get("root_path") or "/",
        httponly=True,
        samesite="strict",
        secure=served_over_https(request, state.settings),
    )
